/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One TRIGGER on a daemon's control socket (docs/protocol.md), with a deadline for every
 * step: CRIU waits for the hook, and the restored tree waits for CRIU. The socket was looked
 * up inside the restored tree (hook-resolve.c: a socket, O_PATH) and is connected to as
 * /proc/self/fd/N, which names that very socket: connect() does not walk the tree's path again.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "protocol.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	do {
		left = deadline - now_ms();
		r = poll(&p, 1, left > 0 ? (int)left : 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* The reply line, skipping the GEN events that no watcher of ours should get anyway. */
static int read_reply(int fd, char *buf, size_t size, int64_t deadline)
{
	size_t len = 0;

	for (;;) {
		char *nl = memchr(buf, '\n', len);
		ssize_t n;
		int r;

		if (nl) {
			*nl = '\0';
			if (strncmp(buf, "GEN ", 4) != 0)
				return 0;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
			continue;
		}
		if (len + 1 >= size)
			return -EPROTO;
		r = wait_for(fd, POLLIN, deadline);
		if (r < 0)
			return r;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		len += (size_t)n;
	}
}

int64_t hook_trigger(int sock_fd, uint32_t min_gen)
{
	int64_t deadline = now_ms() + HOOK_TIMEOUT_MS;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct protocol_line l;
	char req[64], reply[512];
	int fd, r, n;

	hook_fd_path(sock_fd, sa.sun_path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	n = snprintf(req, sizeof(req), "TRIGGER %u\n", min_gen);
	r = wait_for(fd, POLLOUT, deadline);
	if (r < 0)
		goto out;
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		r = -errno;
		goto out;
	}
	r = read_reply(fd, reply, sizeof(reply), deadline);
	if (r < 0)
		goto out;
	r = protocol_line_parse(reply, strlen(reply), &l);
	if (r < 0)
		goto out;
	if (l.kind == PROTOCOL_LINE_ERR)
		r = -l.error;
	else if (l.kind != PROTOCOL_LINE_OK || !l.has_value || l.value > UINT32_MAX)
		r = -EPROTO;
	else {
		close(fd);
		return (int64_t)l.value;
	}
out:
	close(fd);
	return r;
}
