/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for snapsafed, for replies the real daemon cannot be made to give on demand: a
 * generation of 0, a timeout's list of pids, an older daemon's EINTR. One thread listens on
 * control.sock in a fresh temporary runtime directory and answers every request line with
 * what the test's answer() returns for it (one or more whole lines), each client in turn.
 * Header only; used by test/client and test/cli. Every wait is bounded.
 */
#ifndef SNAPSAFE_TEST_FAKE_DAEMON_H
#define SNAPSAFE_TEST_FAKE_DAEMON_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

enum {
	FAKE_CLIENTS_MAX = 64,
	FAKE_LINE_MAX = 256,
};

struct fake_client {
	int fd;
	size_t have;
	char buf[FAKE_LINE_MAX];
};

struct fake_daemon {
	char dir[64];
	char sock[100];		/* fits sockaddr_un.sun_path */
	int listen_fd;
	int stop[2];
	pthread_t thread;
	/* The reply lines for @request (without its '\n'); NULL: hang up on the client. */
	const char *(*answer)(const char *request);
	struct fake_client clients[FAKE_CLIENTS_MAX];
};

static inline void fake_client_drop(struct fake_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->have = 0;
}

/* Answer every whole line that @c sent; false when it hung up or is to be hung up on. */
static inline bool fake_client_serve(struct fake_daemon *f, struct fake_client *c)
{
	ssize_t n = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
	char *nl;

	if (n <= 0)
		return n < 0 && errno == EINTR;
	c->have += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->have))) {
		size_t len = (size_t)(nl - c->buf) + 1;
		const char *reply;

		*nl = '\0';
		reply = f->answer(c->buf);
		/* Short replies: one send() of a few bytes on a Unix socket is all or nothing. */
		if (!reply || send(c->fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
			return false;
		memmove(c->buf, c->buf + len, c->have - len);
		c->have -= len;
	}
	return c->have < sizeof(c->buf) - 1;
}

static inline void *fake_daemon_run(void *arg)
{
	struct fake_daemon *f = arg;

	for (;;) {
		struct pollfd p[FAKE_CLIENTS_MAX + 2];
		int n = 0;

		p[n++] = (struct pollfd){ .fd = f->stop[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = f->listen_fd, .events = POLLIN };
		for (int i = 0; i < FAKE_CLIENTS_MAX; i++)
			p[n++] = (struct pollfd){ .fd = f->clients[i].fd, .events = POLLIN };
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			test_fail("fake daemon: poll: %s", strerror(errno));
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN) {
			int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			int i;

			for (i = 0; fd >= 0 && i < FAKE_CLIENTS_MAX && f->clients[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == FAKE_CLIENTS_MAX)
				close(fd);	/* full, like a daemon at its limit: EOF */
			else if (fd >= 0)
				f->clients[i].fd = fd;
		}
		for (int i = 0; i < FAKE_CLIENTS_MAX; i++)
			if (p[i + 2].fd >= 0 && p[i + 2].revents &&
			    !fake_client_serve(f, &f->clients[i]))
				fake_client_drop(&f->clients[i]);
	}
}

/* fake_daemon_start() - listen in a new temporary directory, answering with @answer. */
static inline void fake_daemon_start(struct fake_daemon *f, const char *(*answer)(const char *))
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < FAKE_CLIENTS_MAX; i++)
		f->clients[i].fd = -1;
	f->answer = answer;
	snprintf(f->dir, sizeof(f->dir), "/tmp/snapsafe-fake-XXXXXX");
	if (!mkdtemp(f->dir))
		test_fail("mkdtemp: %s", strerror(errno));
	snprintf(f->sock, sizeof(f->sock), "%s/control.sock", f->dir);
	memcpy(sa.sun_path, f->sock, sizeof(f->sock));
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->listen_fd, 128) < 0)
		test_fail("fake daemon: listen on %s: %s", f->sock, strerror(errno));
	if (pipe2(f->stop, O_CLOEXEC) < 0)
		test_fail("pipe2: %s", strerror(errno));
	if (pthread_create(&f->thread, NULL, fake_daemon_run, f) != 0)
		test_fail("pthread_create");
}

static inline void fake_daemon_stop(struct fake_daemon *f)
{
	if (write(f->stop[1], "x", 1) != 1)
		test_fail("write: %s", strerror(errno));
	pthread_join(f->thread, NULL);
	for (int i = 0; i < FAKE_CLIENTS_MAX; i++)
		if (f->clients[i].fd >= 0)
			fake_client_drop(&f->clients[i]);
	close(f->listen_fd);
	close(f->stop[0]);
	close(f->stop[1]);
	unlink(f->sock);
	rmdir(f->dir);
}

#endif
