/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* May the peer of a control connection use TRIGGER, QUIESCE and RESUME? (privilege.c) */
#ifndef SNAPSAFE_DAEMON_PRIVILEGE_H
#define SNAPSAFE_DAEMON_PRIVILEGE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * peer_privileged() - the peer of @fd is root (at connect time), or holds
 * CAP_CHECKPOINT_RESTORE in a way no exec can have lent it, or is in @group, while still
 * the process and identity that connected.
 * Return: 1 yes, 0 no, a negative errno when it cannot tell (treated as no).
 */
int peer_privileged(int fd, bool have_group, gid_t group);

/*
 * peer_comm() - the process name of @pid (/proc/<pid>/comm), for the log and WATCHERS;
 * "?" when it cannot be read. Not a credential: the process chooses it.
 */
void peer_comm(pid_t pid, char comm[16]);

#endif
