/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Watchers: a connection to snapsafed registered with `WATCH`, the userspace equivalent of
 * an open /dev/sysgenid (docs/api.md, docs/protocol.md).
 *
 * The daemon holds the watcher's acknowledged generation and sends `GEN <gen>` lines while
 * the watcher is outdated; we leave them in the socket (client.c reads exactly up to a reply),
 * so the socket itself is the pollable fd: readable exactly while outdated, and on hang-up.
 * Each open watcher is also on a per-process list, which snapsafe_wait_watchers() checks so
 * that a process never waits for its own outdated watcher. A watcher may be shared between
 * threads: a mutex keeps each request and its reply together.
 *
 * fork(): a child has only the forking thread, so a lock that another thread held at that
 * moment would stay held in the child for ever. Every change of the list is one pointer
 * store, so the list is whole at any moment; a fork handler re-creates the list lock and
 * each watcher's lock in the child. A watcher inherited across fork() belongs to the parent
 * (the daemon counts it under the parent's pid): the child may close it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "client.h"
#include "guard.h"

struct snapsafe_watcher {
	int fd;
	unsigned int flags;
	pid_t pid;			/* the opener: the daemon ties the watcher to this pid */
	pthread_mutex_t lock;		/* one request/reply at a time on fd */
	struct snapsafe_watcher *next;	/* watcher_list */
};

static pthread_mutex_t watcher_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapsafe_watcher *watcher_list;
static pthread_once_t watcher_atfork_once = PTHREAD_ONCE_INIT;
static bool watcher_atfork_ok;

/* In the child of fork(): the threads that may have held these locks do not exist here. */
static void watcher_atfork_child(void)
{
	bool entered = guard_enter();

	pthread_mutex_init(&watcher_list_lock, NULL);
	for (struct snapsafe_watcher *w = watcher_list; w; w = w->next)
		pthread_mutex_init(&w->lock, NULL);
	guard_leave_if(entered);
}

static void watcher_atfork_register(void)
{
	watcher_atfork_ok = pthread_atfork(NULL, NULL, watcher_atfork_child) == 0;
}

static void watcher_list_add(struct snapsafe_watcher *w)
{
	pthread_mutex_lock(&watcher_list_lock);
	w->next = watcher_list;
	/* One store makes it part of the list: a fork sees it in or out, never half-linked. */
	__atomic_store_n(&watcher_list, w, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&watcher_list_lock);
}

static void watcher_list_remove(struct snapsafe_watcher *w)
{
	struct snapsafe_watcher **p;

	pthread_mutex_lock(&watcher_list_lock);
	for (p = &watcher_list; *p; p = &(*p)->next)
		if (*p == w) {
			__atomic_store_n(p, w->next, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&watcher_list_lock);
}

/* Does the head of the socket hold an event line, i.e. was the watcher outdated? */
static bool watcher_event_pending(int fd)
{
	char head[3];
	ssize_t n;

	do
		n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(head) && memcmp(head, "GEN", 3) == 0;
}

bool watcher_any_outdated(void)
{
	struct snapsafe_watcher *w;
	pid_t pid = getpid();
	bool found = false;

	/* No watcher was ever opened: nothing to look at (and no fork handler yet either). */
	if (!__atomic_load_n(&watcher_list, __ATOMIC_ACQUIRE))
		return false;

	pthread_mutex_lock(&watcher_list_lock);
	for (w = watcher_list; w && !found; w = w->next)
		/*
		 * A watcher inherited across fork() belongs to the parent: the daemon counts
		 * it under the parent's pid, and so do we.
		 */
		if (w->pid == pid && watcher_event_pending(w->fd))
			found = true;
	pthread_mutex_unlock(&watcher_list_lock);
	return found;
}

/* A generation on the wire; 0 is valid (a daemon's first start, before any raise). */
static int watcher_value(uint64_t value, uint32_t *ret_gen)
{
	if (value > UINT32_MAX)
		return -EPROTO;
	*ret_gen = (uint32_t)value;
	return 0;
}

/**
 * snapsafe_watcher_open() - register with the daemon as a watcher.
 * @flags: 0 or SNAPSAFE_WATCHER_NONBLOCK
 * @ret: the new watcher, written only on success
 *
 * Return: 0, or a negative errno (-ENOENT/-ECONNREFUSED when no daemon runs).
 */
EXPORT int snapsafe_watcher_open(unsigned int flags, struct snapsafe_watcher **ret)
{
	/* Both lines in one write: the daemon answers them in order, one round trip. */
	static const char hello_watch[] = "HELLO 1\nWATCH\n";
	char buf[PROTOCOL_REPLY_MAX];
	struct snapsafe_watcher *w;
	struct protocol_line l;
	uint32_t gen;
	bool entered;
	int fd, r;

	if (!ret || (flags & ~(unsigned int)SNAPSAFE_WATCHER_NONBLOCK))
		return -EINVAL;
	/* Before the first watcher exists: no child may inherit a lock it cannot reset. */
	pthread_once(&watcher_atfork_once, watcher_atfork_register);
	if (!watcher_atfork_ok)
		return -ENOMEM;
	entered = guard_enter();
	fd = client_connect(NULL);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = client_send(fd, hello_watch, sizeof(hello_watch) - 1);
	if (r < 0)
		goto fail;
	r = client_read_reply(fd, buf, sizeof(buf), &l);
	if (r < 0)
		goto fail;
	if (!l.has_value || l.value != PROTOCOL_VERSION) {
		r = -EPROTO;
		goto fail;
	}
	r = client_read_reply(fd, buf, sizeof(buf), &l);
	if (r < 0)
		goto fail;
	r = l.has_value ? watcher_value(l.value, &gen) : -EPROTO;
	if (r < 0)
		goto fail;

	w = calloc(1, sizeof(*w));
	if (!w) {
		r = -ENOMEM;
		goto fail;
	}
	w->fd = fd;
	w->flags = flags;
	w->pid = getpid();
	pthread_mutex_init(&w->lock, NULL);
	watcher_list_add(w);
	*ret = w;
	r = 0;
	goto out;
fail:
	close(fd);
out:
	guard_leave_if(entered);
	return r;
}

/** snapsafe_watcher_fd() - a descriptor that polls readable while the watcher is outdated. */
EXPORT int snapsafe_watcher_fd(const struct snapsafe_watcher *w)
{
	/* Reads one field: no guard needed, nothing here can be half-way through. */
	return w ? w->fd : -EINVAL;
}

/* snapsafe_watcher_read() without the guard. */
static int watcher_read(struct snapsafe_watcher *w, uint32_t *ret_gen)
{
	for (;;) {
		struct pollfd p = { .fd = w->fd, .events = POLLIN };
		uint64_t v;
		int r;

		/* The daemon is the authority; asking it also consumes the queued events. */
		pthread_mutex_lock(&w->lock);
		r = client_request_value(w->fd, "READ", &v);
		pthread_mutex_unlock(&w->lock);
		if (r == 0)
			return watcher_value(v, ret_gen);
		if (r != -EAGAIN || (w->flags & SNAPSAFE_WATCHER_NONBLOCK))
			return r;
		/*
		 * Up to date, and the reply left nothing queued: the next byte is the `GEN` of
		 * the next raise, or the end of the connection (then READ fails above).
		 */
		r = poll(&p, 1, -1);
		if (r < 0)
			return -errno;
	}
}

/**
 * snapsafe_watcher_read() - the generation, once it differs from the last acknowledged one.
 * @w: the watcher
 * @ret_gen: the new generation, written only on success
 *
 * Return: 0, -EAGAIN (non-blocking, nothing new), -EINTR (a signal while blocked),
 * -ECONNRESET/-EPIPE when the daemon went away, or another negative errno.
 */
EXPORT int snapsafe_watcher_read(struct snapsafe_watcher *w, uint32_t *ret_gen)
{
	bool entered;
	int r;

	if (!w || !ret_gen)
		return -EINVAL;
	entered = guard_enter();
	r = watcher_read(w, ret_gen);
	guard_leave_if(entered);
	return r;
}

/**
 * snapsafe_watcher_ack() - confirm that the watcher has handled generation @gen.
 * Return: 0, -EINVAL when @gen is not the current generation, or another negative errno.
 */
EXPORT int snapsafe_watcher_ack(struct snapsafe_watcher *w, uint32_t gen)
{
	char req[32];
	bool entered;
	uint64_t v;
	int r;

	if (!w)
		return -EINVAL;
	snprintf(req, sizeof(req), "ACK %" PRIu32, gen);
	entered = guard_enter();
	pthread_mutex_lock(&w->lock);
	r = client_request_value(w->fd, req, &v);
	pthread_mutex_unlock(&w->lock);
	guard_leave_if(entered);
	return r;
}

/** snapsafe_watcher_close() - stop counting as a watcher; accepts NULL; returns NULL. */
EXPORT struct snapsafe_watcher *snapsafe_watcher_close(struct snapsafe_watcher *w)
{
	bool entered;

	if (!w)
		return NULL;
	entered = guard_enter();
	watcher_list_remove(w);
	/* Closing the connection is the unregistration: the daemon drops it at once. */
	close(w->fd);
	pthread_mutex_destroy(&w->lock);
	free(w);
	guard_leave_if(entered);
	return NULL;
}
