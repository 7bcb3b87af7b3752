/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WAIT request of docs/protocol.md with what its reply means, shared by
 * snapsafe_wait_watchers() and snapsafectl's wait-watchers: the error a reply maps to, and
 * the pids of the outdated watchers that a timeout reply lists. Internal: not exported from
 * the shared library.
 */
#ifndef SNAPSAFE_LIB_CONTROL_H
#define SNAPSAFE_LIB_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CONTROL_PIDS_MAX = 128,	/* more than a reply line can hold */
};

/* The outdated watchers' pids from `ERR ETIMEDOUT outdated watcher pids: 12 34 ...`. */
struct control_pids {
	bool known;		/* the reply listed pids (daemons before the list do not) */
	bool truncated;		/* the list ended in " ...", or had more than fit here */
	unsigned int n;
	uint32_t pid[CONTROL_PIDS_MAX];
};

/*
 * control_parse_pids() - read the pid list from the free text of a WAIT timeout reply.
 * @text, @len: the text after "ERR ETIMEDOUT "
 * @ret: always written; ->known false when the text is not a pid list
 */
void control_parse_pids(const char *text, size_t len, struct control_pids *ret);

/*
 * control_wait() - send `WAIT <timeout_ms>` on @fd and read the reply.
 * @ret_pids: NULL, or filled from a timeout reply (->known false for any other reply)
 * Return: 0 when no watcher is outdated; -ETIMEDOUT; -EDEADLK when the caller holds an
 * outdated watcher itself (the daemon says EDEADLK, or EINTR before it did: a reply to
 * WAIT never means a signal); another negative errno.
 */
int control_wait(int fd, uint32_t timeout_ms, struct control_pids *ret_pids);

#endif
