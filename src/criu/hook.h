/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-criu-hook's parts: the restored tree's files, looked up inside its root; who owns
 * its page; a raise through the owning daemon's socket; and a raise written into the page of a
 * daemon that is itself one of the stopped, restored tasks. Each returns a negative errno and
 * prints nothing; main() (snapsafe-criu-hook.c) says what failed.
 */
#ifndef SNAPSAFE_CRIU_HOOK_H
#define SNAPSAFE_CRIU_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	HOOK_PATH_MAX		= 512,
	HOOK_TIMEOUT_MS		= 30000,	/* a busy host daemon still answers in time */
};

/*
 * hook_root_open() - an O_PATH descriptor of @init's root directory (/proc/@init/root), from
 * which hook_open_in() looks up the restored tree's files. Return: the fd, or a negative errno.
 */
int hook_root_open(pid_t init);

/*
 * hook_open_in() - an O_PATH descriptor of @path, as the tree whose root is @root sees it,
 * which must be a file of @type (S_IFREG, S_IFSOCK) and not a symbolic link itself: links on
 * the way and ".." never leave @root, and magic links are refused. Return: the fd, or a
 * negative errno: -ELOOP for a link, -EINVAL or -ENOTSOCK for another type, -ENOSYS on
 * kernels without openat2() (5.6).
 */
int hook_open_in(int root, const char *path, mode_t type);

/* hook_fd_path() - "/proc/self/fd/@fd": a name for the very file that @fd holds. */
void hook_fd_path(int fd, char *buf, size_t size);

/*
 * hook_owner() - the pid (in our pid namespace) of the process holding the lock of the page
 * open at @page_fd, the daemon that publishes it, from /proc/locks.
 * Return: 0, or -ESRCH when nobody holds it.
 */
int hook_owner(int page_fd, pid_t *ret_pid);

/* hook_in_tree() - is @pid @root or one of its descendants (the restored tree)? */
bool hook_in_tree(pid_t pid, pid_t root);

/*
 * hook_trigger() - "TRIGGER @min_gen" on the socket open (O_PATH) at @sock_fd; the daemon
 * answers once the page says so. Return: the new generation (>= 0), or a negative errno;
 * -ETIMEDOUT when there is no answer within HOOK_TIMEOUT_MS.
 */
int64_t hook_trigger(int sock_fd, uint32_t min_gen);

/* hook_page_generation() - the generation the page open (O_PATH) at @page_fd says. */
int64_t hook_page_generation(int page_fd);

/*
 * hook_page_raise() - raise the generation in the page (open O_PATH at @page_fd) of a daemon
 * that cannot run now (it is one of the stopped, restored tasks): generation + 1 and the epoch
 * the daemon's next control raise will publish, in one store.
 * Return: the new generation, or a negative errno.
 */
int64_t hook_page_raise(int page_fd);

#endif
