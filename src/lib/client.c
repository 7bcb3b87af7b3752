/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One request/reply exchange with snapsafed over its control socket (docs/protocol.md).
 *
 * The reader never takes bytes beyond the reply line: it peeks up to the newline and then
 * receives exactly that much. A watcher's socket therefore keeps the `GEN` lines the daemon
 * sends after a reply, and polls readable exactly while the watcher is outdated. A daemon
 * that dies mid-request gives -ECONNRESET or -EPIPE, never SIGPIPE (MSG_NOSIGNAL). The
 * protocol words themselves are parsed by src/shared/protocol.c; this file only moves bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "runtime-dir.h"

static const char *client_dir_override;

void client_set_runtime_dir(const char *dir)
{
	client_dir_override = dir;
}

const char *client_runtime_dir(void)
{
	return runtime_dir(client_dir_override);
}

int client_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	r = runtime_path(sa.sun_path, sizeof(sa.sun_path), dir ? dir : client_runtime_dir(),
			 SNAPSAFE_SOCKET_FILE);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * An AF_UNIX connect interrupted by a signal leaves the socket unconnected (it only
	 * sleeps while the listener's backlog is full), so trying again is safe.
	 */
	do
		r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int client_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* recv(2) that retries EINTR: a half-read reply cannot be abandoned without losing sync. */
static ssize_t client_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Receive exactly @len bytes that a peek has shown to be queued. */
static int client_take(int fd, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = client_recv(fd, buf, len, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int client_read_line(int fd, char *buf, size_t size)
{
	size_t have = 0;

	if (size < 2)
		return -ENOBUFS;
	for (;;) {
		ssize_t n;
		char *nl;
		int r;

		/*
		 * Peek at what is queued; a blocking peek on an empty queue waits for data.
		 * One spare byte past the room left tells "line too long" from "line fits".
		 */
		n = client_recv(fd, buf + have, size - 1 - have, MSG_PEEK);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		nl = memchr(buf + have, '\n', (size_t)n);
		if (nl) {
			size_t line = (size_t)(nl - (buf + have)) + 1;

			r = client_take(fd, buf + have, line);
			if (r < 0)
				return r;
			have += line - 1;
			buf[have] = '\0';
			return (int)have;
		}
		/*
		 * A partial line. Peeking again would return at once with the same bytes, so
		 * take them: they belong to the line being read (the reply, or an event line
		 * before it) and will be consumed anyway. The next peek then blocks.
		 */
		r = client_take(fd, buf + have, (size_t)n);
		if (r < 0)
			return r;
		have += (size_t)n;
		if (have >= size - 1)
			return -EPROTO;
	}
}

int client_read_reply(int fd, char *buf, size_t size, struct protocol_line *ret)
{
	for (;;) {
		struct protocol_line l;
		int n, r;

		n = client_read_line(fd, buf, size);
		if (n < 0)
			return n;
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
		r = protocol_line_parse(buf, (size_t)n, &l);
		if (r < 0)
			return r;
		switch (l.kind) {
		case PROTOCOL_LINE_GEN:
			/* An event that was queued before the reply: the reply tells the state. */
			continue;
		case PROTOCOL_LINE_ERR:
			/* The free text too: a WAIT timeout lists the outdated watchers there. */
			if (ret)
				*ret = l;
			return l.error > 0 ? -l.error : -EPROTO;
		case PROTOCOL_LINE_OK:
			if (ret)
				*ret = l;
			return 0;
		}
		return -EPROTO;
	}
}

int client_request(int fd, const char *request, char *buf, size_t size,
		   struct protocol_line *ret)
{
	char line[PROTOCOL_LINE_MAX];
	size_t len = strlen(request);
	int r;

	if (len + 1 > sizeof(line))
		return -E2BIG;
	memcpy(line, request, len);
	line[len++] = '\n';
	r = client_send(fd, line, len);
	if (r < 0)
		return r;
	return client_read_reply(fd, buf, size, ret);
}

int client_request_value(int fd, const char *request, uint64_t *ret_value)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int r;

	r = client_request(fd, request, buf, sizeof(buf), &l);
	if (r < 0)
		return r;
	if (!l.has_value)
		return -EPROTO;
	*ret_value = l.value;
	return 0;
}

int client_call_value(const char *request, uint64_t *ret_value)
{
	int fd, r;

	fd = client_connect(NULL);
	if (fd < 0)
		return fd;
	r = client_request_value(fd, request, ret_value);
	close(fd);
	return r;
}
