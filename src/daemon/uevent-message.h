/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel uevent messages: the check the uevent notifier runs on every datagram from the
 * kernel's uevent multicast group. Pure functions, fuzzed (fuzz/fuzz-uevent.c).
 */
#ifndef SNAPSAFE_DAEMON_UEVENT_MESSAGE_H
#define SNAPSAFE_DAEMON_UEVENT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct sockaddr_nl;

/* uevent_is_new_vmgenid() - ACTION=change with NEW_VMGENID=1, in a kernel uevent payload. */
bool uevent_is_new_vmgenid(const char *buf, size_t len);

/*
 * uevent_accept() - a received uevent datagram that raises: sent by the kernel (netlink
 * port id 0; @salen is the received address length), not truncated (@msg_flags), and
 * uevent_is_new_vmgenid().
 */
bool uevent_accept(const struct sockaddr_nl *sa, socklen_t salen, int msg_flags, const char *buf,
		   size_t len);

#endif
