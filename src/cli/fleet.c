/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fan-out (see fleet.h). Each target is a small state machine on a non-blocking socket:
 * connect, for hybrid vsock the "CONNECT <port>" handshake, the request, the reply (event
 * lines before it skipped). Any failure before the reply closes the socket and, while the
 * deadline allows, tries again after a pause; so a request may reach a daemon twice when
 * its connection broke after sending. That is harmless for every request fleet mode sends:
 * QUIESCE and WAIT are idempotent, and a second RESUME or TRIGGER costs one more reseed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "fleet.h"

enum phase {
	PHASE_IDLE,		/* waiting for the next try */
	PHASE_CONNECTING,
	PHASE_HANDSHAKE,	/* hybrid vsock: "CONNECT <port>" sent or being sent, "OK" awaited */
	PHASE_REQUEST,		/* the request sent or being sent, the reply awaited */
	PHASE_DONE,
};

struct peer {
	const struct target *t;
	enum phase phase;
	int fd;
	char out[PROTOCOL_LINE_MAX];
	size_t out_len, out_off;
	char in[PROTOCOL_REPLY_MAX];
	size_t in_len;
	uint64_t next_try_ms;		/* IDLE: when to try again */
	uint64_t phase_deadline_ms;	/* the current attempt gives up then */
	uint64_t retry_ms;		/* the next pause */
	struct fleet_result r;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void queue_line(struct peer *p, const char *line)
{
	p->out_len = (size_t)snprintf(p->out, sizeof(p->out), "%s\n", line);
	p->out_off = 0;
}

/* Start an attempt: a non-blocking socket and connect(). Return: 0, or -errno. */
static int attempt_start(struct peer *p)
{
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_vm vm;
	} a = {};
	socklen_t len;
	int fd;

	if (p->t->kind == TARGET_VSOCK) {
		a.vm = (struct sockaddr_vm) { .svm_family = AF_VSOCK, .svm_cid = p->t->cid,
					      .svm_port = p->t->port };
		len = sizeof(a.vm);
	} else {
		a.un.sun_family = AF_UNIX;
		memcpy(a.un.sun_path, p->t->path, sizeof(a.un.sun_path));
		len = sizeof(a.un);
	}
	p->r.attempts++;
	p->in_len = 0;
	snprintf(p->r.failed_at, sizeof(p->r.failed_at), "connect");
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->fd = fd;
	p->phase = PHASE_CONNECTING;
	if (connect(fd, &a.sa, len) < 0 && errno != EINPROGRESS && errno != EINTR)
		return -errno;
	return 0;
}

/* The socket is connected: queue what comes first on it. */
static void connected(struct peer *p, const char *request)
{
	char line[64];

	if (p->t->kind == TARGET_VSOCK_UDS) {
		snprintf(line, sizeof(line), "CONNECT %u", p->t->port);
		queue_line(p, line);
		p->phase = PHASE_HANDSHAKE;
		snprintf(p->r.failed_at, sizeof(p->r.failed_at), "hybrid vsock CONNECT");
	} else {
		queue_line(p, request);
		p->phase = PHASE_REQUEST;
		snprintf(p->r.failed_at, sizeof(p->r.failed_at), "request");
	}
}

static void close_fd(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* This attempt failed with @error: try again after a pause, or give up at the deadline. */
static void attempt_failed(struct peer *p, int error, uint64_t now, uint64_t deadline)
{
	close_fd(p);
	p->r.error = error;
	if (now + p->retry_ms >= deadline) {
		p->phase = PHASE_DONE;
		return;
	}
	p->phase = PHASE_IDLE;
	p->next_try_ms = now + p->retry_ms;
	p->retry_ms = p->retry_ms * 2 > FLEET_RETRY_MAX_MS ? FLEET_RETRY_MAX_MS : p->retry_ms * 2;
}

/* Send what is queued. Return: 0 (maybe not all yet), or -errno. */
static int flush_out(struct peer *p)
{
	while (p->out_off < p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		p->out_off += (size_t)n;
	}
	return 0;
}

/*
 * Read what is there and act on complete lines. Return: 1 when the target is done, 0 to go
 * on, or a negative errno for a failed attempt.
 */
static int read_lines(struct peer *p, const char *request)
{
	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(p->in, '\n', p->in_len))) {
			size_t len = (size_t)(nl - p->in);

			*nl = '\0';
			if (len && p->in[len - 1] == '\r')
				p->in[--len] = '\0';
			if (p->phase == PHASE_HANDSHAKE) {
				/* The hybrid vsock's answer: "OK <host port>", anything else is no. */
				if (strncmp(p->in, "OK", 2) != 0)
					return -ECONNREFUSED;
				memmove(p->in, nl + 1, p->in_len - len - 1);
				p->in_len -= len + 1;
				queue_line(p, request);
				p->phase = PHASE_REQUEST;
				snprintf(p->r.failed_at, sizeof(p->r.failed_at), "request");
				return flush_out(p);
			}
			/* Event lines (a watcher's) may come first; the reply is OK or ERR. */
			if (strncmp(p->in, "OK", 2) == 0 || strncmp(p->in, "ERR", 3) == 0) {
				snprintf(p->r.reply, sizeof(p->r.reply), "%s", p->in);
				p->r.replied = true;
				return 1;
			}
			memmove(p->in, nl + 1, p->in_len - len - 1);
			p->in_len -= len + 1;
		}
		if (p->in_len >= sizeof(p->in) - 1)
			return -EPROTO;
		n = recv(p->fd, p->in + p->in_len, sizeof(p->in) - 1 - p->in_len, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		p->in_len += (size_t)n;
	}
}

/* The deadline of a reply to a request sent @now. */
static uint64_t reply_deadline(const struct fleet_params *fp, uint64_t now, uint64_t deadline)
{
	return fp->reply_ms ? now + fp->reply_ms : deadline;
}

/* One poll() event on @p's socket. */
static void handle_event(struct peer *p, short revents, const struct fleet_params *fp,
			 uint64_t now, uint64_t deadline)
{
	enum phase before = p->phase;
	int r = 0;

	if (p->phase == PHASE_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0 && !(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (err) {
			attempt_failed(p, -err, now, deadline);
			return;
		}
		connected(p, fp->request);
		r = flush_out(p);
	} else {
		if (revents & POLLOUT)
			r = flush_out(p);
		if (r == 0 && (revents & (POLLIN | POLLHUP | POLLERR)))
			r = read_lines(p, fp->request);
	}
	if (r > 0) {
		close_fd(p);
		p->r.error = 0;
		p->phase = PHASE_DONE;
	} else if (r < 0) {
		attempt_failed(p, r, now, deadline);
	} else if (before != PHASE_REQUEST && p->phase == PHASE_REQUEST) {
		p->phase_deadline_ms = reply_deadline(fp, now, deadline);
	}
}

static short wanted_events(const struct peer *p)
{
	if (p->phase == PHASE_CONNECTING)
		return POLLOUT;
	return (short)(POLLIN | (p->out_off < p->out_len ? POLLOUT : 0));
}

/* Start the attempts that are due, give up those past their time, report the finished. */
static void step(struct peer *peers, size_t n, const struct fleet_params *fp, uint64_t start,
		 uint64_t now, uint64_t deadline, size_t *left, fleet_done_fn *done, void *userdata)
{
	unsigned active = 0;

	for (size_t i = 0; i < n; i++)
		active += peers[i].fd >= 0;
	for (size_t i = 0; i < n; i++) {
		struct peer *p = &peers[i];

		if (p->phase == PHASE_IDLE && now >= deadline)
			p->phase = PHASE_DONE;
		if (p->phase == PHASE_IDLE && p->next_try_ms <= now && active < fp->parallel) {
			int r = attempt_start(p);

			p->phase_deadline_ms = now + FLEET_ATTEMPT_MS < deadline ?
					       now + FLEET_ATTEMPT_MS : deadline;
			if (r < 0)
				attempt_failed(p, r, now, deadline);
			else
				active++;
		}
		if (p->phase != PHASE_IDLE && p->phase != PHASE_DONE && now >= p->phase_deadline_ms)
			attempt_failed(p, -ETIMEDOUT, now, deadline);
		if (p->phase == PHASE_DONE && p->t) {
			p->r.ms = now - start;
			done(p->t, &p->r, userdata);
			p->t = NULL;
			(*left)--;
		}
	}
}

int fleet_run(const struct target *targets, size_t n, const struct fleet_params *fp,
	      fleet_done_fn *done, void *userdata)
{
	struct peer *peers = calloc(n ? n : 1, sizeof(*peers));
	struct pollfd *pfd = calloc(n ? n : 1, sizeof(*pfd));
	struct peer **polled = calloc(n ? n : 1, sizeof(*polled));
	uint64_t start = now_ms(), deadline = start + fp->deadline_ms;
	size_t left = n;
	int r = 0;

	if (!peers || !pfd || !polled) {
		free(peers);
		free(pfd);
		free(polled);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		peers[i] = (struct peer) { .t = &targets[i], .fd = -1, .next_try_ms = start,
					   .retry_ms = FLEET_RETRY_FIRST_MS, .r.error = -ETIMEDOUT,
					   .r.failed_at = "connect" };
	for (;;) {
		uint64_t now = now_ms(), wake = UINT64_MAX;
		size_t np = 0;
		int k;

		step(peers, n, fp, start, now, deadline, &left, done, userdata);
		if (left == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			struct peer *p = &peers[i];

			if (p->phase == PHASE_DONE)
				continue;
			if (p->phase == PHASE_IDLE) {
				/*
				 * A try that is due waits for a free slot: a slot is freed only by
				 * an event or a deadline of an open connection, which wake us anyway.
				 */
				if (p->next_try_ms > now && p->next_try_ms < wake)
					wake = p->next_try_ms;
				continue;
			}
			if (p->phase_deadline_ms < wake)
				wake = p->phase_deadline_ms;
			pfd[np] = (struct pollfd) { .fd = p->fd, .events = wanted_events(p) };
			polled[np++] = p;
		}
		k = poll(pfd, np, wake <= now ? 0 : wake - now > 60000 ? 60000 : (int)(wake - now));
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		now = now_ms();
		for (size_t i = 0; k > 0 && i < np; i++)
			if (pfd[i].revents)
				handle_event(polled[i], pfd[i].revents, fp, now, deadline);
	}
	for (size_t i = 0; i < n; i++)
		close_fd(&peers[i]);
	free(peers);
	free(pfd);
	free(polled);
	return r;
}
