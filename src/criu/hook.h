/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-criu-hook's parts: where the restored tree's runtime directory is, who owns its
 * page, a raise through the owning daemon's socket, and a raise written into the page of a
 * daemon that is itself one of the stopped, restored tasks. Each returns a negative errno and
 * prints nothing; main() (snapsafe-criu-hook.c) says what failed.
 */
#ifndef SNAPSAFE_CRIU_HOOK_H
#define SNAPSAFE_CRIU_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	HOOK_PATH_MAX		= 512,
	HOOK_TIMEOUT_MS		= 30000,	/* a busy host daemon still answers in time */
};

/*
 * hook_owner() - the pid (in our pid namespace) of the process holding the page's lock, the
 * daemon that publishes it, from /proc/locks. Return: 0, or -ESRCH when nobody holds it.
 */
int hook_owner(const char *page_path, pid_t *ret_pid);

/* hook_in_tree() - is @pid @root or one of its descendants (the restored tree)? */
bool hook_in_tree(pid_t pid, pid_t root);

/*
 * hook_trigger() - "TRIGGER @min_gen" on the socket at @sock_path; the daemon answers once
 * the page says so. Return: the new generation (>= 0), or a negative errno; -ETIMEDOUT when
 * there is no answer within HOOK_TIMEOUT_MS.
 */
int64_t hook_trigger(const char *sock_path, uint32_t min_gen);

/* hook_page_generation() - the generation the page at @page_path says. */
int64_t hook_page_generation(const char *page_path);

/*
 * hook_page_raise() - raise the generation in the page of a daemon that cannot run now (it
 * is one of the stopped, restored tasks): generation + 1 and the epoch the daemon's next
 * control raise will publish, in one store. Return: the new generation, or a negative errno.
 */
int64_t hook_page_raise(const char *page_path);

#endif
