/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is a socket peer allowed to raise the generation? Decided only from what the
 * kernel says about the peer (SO_PEERCRED, /proc/<pid>/status), never from
 * anything the peer sent.
 */
#ifndef SNAPSAFE_SHARED_PRIVILEGE_H
#define SNAPSAFE_SHARED_PRIVILEGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * privilege_cap_eff() - the CapEff mask of @pid from /proc/<pid>/status.
 * Return: 0 and *@ret_caps, or a negative errno (-ESRCH when the process is gone).
 */
int privilege_cap_eff(pid_t pid, uint64_t *ret_caps);

/*
 * privilege_in_group() - is @gid the primary group of @pid or one of its supplementary
 * groups (the Groups: line of /proc/<pid>/status, read at request time)?
 * Return: 1 yes, 0 no, negative errno.
 */
int privilege_in_group(pid_t pid, gid_t peer_gid, gid_t gid);

/*
 * privilege_check_peer() - may the peer of the connected socket @fd use privileged
 * requests: uid 0, CAP_CHECKPOINT_RESTORE in CapEff, or (when @have_group) the
 * group @group among its groups.
 * Return: 1 privileged, 0 not, negative errno when the credentials cannot be read
 * (which callers treat as "not privileged").
 */
int privilege_check_peer(int fd, bool have_group, gid_t group);

#endif
