/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One client connection's bytes (see connection.h). */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connection.h"
#include "log.h"

/* Link a new connection @c for the accepted socket @fd into @set. */
static int connection_add(struct connections *set, struct connection *c, int fd, uint64_t now)
{
	int sndbuf = CONNECTION_SNDBUF, r;

	/* What the kernel keeps queued for a peer that does not read is ours to bound too. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->set = set;
	c->phase = CONNECTION_NEW;
	c->accepted_ms = now;
	c->src = (struct source) { .fd = fd, .dispatch = set->dispatch, .userdata = c };
	c->events = EPOLLIN;
	r = event_loop_add(set->loop, &c->src, EPOLLIN);
	if (r < 0) {
		close(fd);
		free(c);
		return r;
	}
	c->next = set->head;
	if (c->next)
		c->next->prev = c;
	set->head = c;
	set->count++;
	return 0;
}

int connection_new(struct connections *set, int fd, uint64_t now, struct connection **ret)
{
	struct ucred cred = {};
	socklen_t len = sizeof(cred);
	struct connection *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		r = -errno;
		close(fd);
		free(c);
		return r;
	}
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	r = connection_add(set, c, fd, now);
	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

int connection_new_vsock(struct connections *set, int fd, uint64_t now, uint32_t cid,
			 enum vsock_access access, struct connection **ret)
{
	struct connection *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->vsock = true;
	c->vsock_cid = cid;
	c->vsock_access = access;
	r = connection_add(set, c, fd, now);
	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

void connection_kill(struct connection *c, const char *why)
{
	struct connections *set = c->set;

	if (c->phase == CONNECTION_DEAD)
		return;
	if (c->vsock)
		log_debug("Client fd %d (vsock CID %u) dropped: %s", c->src.fd, c->vsock_cid, why);
	else
		log_debug("Client fd %d (pid %d) dropped: %s", c->src.fd, (int)c->pid, why);
	c->phase = CONNECTION_DEAD;
	/* A disconnected watcher stops counting at once (docs/protocol.md). */
	watchers_remove(set->watchers, &c->watcher);
	source_close(set->loop, &c->src);
	if (c->prev)
		c->prev->next = c->next;
	else
		set->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	set->count--;
	set->out_total -= c->out_len - c->out_off;
	c->out_off = c->out_len = 0;
	c->dead_next = set->dead;
	set->dead = c;
}

void connection_update_events(struct connection *c)
{
	uint32_t ev = 0;
	int r;

	if (c->phase == CONNECTION_DEAD)
		return;
	/*
	 * Backpressure: while the peer has not taken its replies, its further requests are
	 * not read; they wait in its socket, on its side of the accounting.
	 */
	if ((c->phase == CONNECTION_NEW || c->phase == CONNECTION_READY) && !c->input_closed &&
	    c->in_len < sizeof(c->in) && !connection_output_pending(c))
		ev |= EPOLLIN;
	if (connection_output_pending(c))
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	r = event_loop_mod(c->set->loop, &c->src, ev);
	if (r < 0) {
		connection_kill(c, "epoll_ctl failed");
		return;
	}
	c->events = ev;
}

void connection_flush(struct connection *c)
{
	while (connection_output_pending(c)) {
		ssize_t n = send(c->src.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			connection_kill(c, "send failed");
			return;
		}
		c->out_off += (size_t)n;
		c->set->out_total -= (size_t)n;
	}
	if (!connection_output_pending(c))
		c->out_off = c->out_len = 0;
	if (c->phase == CONNECTION_CLOSING && !connection_output_pending(c)) {
		connection_kill(c, "closed");
		return;
	}
	connection_update_events(c);
}

void connection_close_after_output(struct connection *c)
{
	if (c->phase == CONNECTION_DEAD)
		return;
	c->phase = CONNECTION_CLOSING;
	connection_flush(c);
}

static int grow(struct connection *c, size_t len)
{
	size_t cap;
	char *p;

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len <= c->out_cap)
		return 0;
	cap = c->out_cap ? c->out_cap : 256;
	while (cap < c->out_len + len)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

void connection_queue(struct connection *c, const char *buf, size_t len)
{
	size_t queued = c->out_len - c->out_off;

	if (c->phase == CONNECTION_DEAD || len == 0)
		return;
	if (queued + len > PROTOCOL_OUTPUT_MAX) {
		connection_kill(c, "slow reader: output limit exceeded");
		return;
	}
	if (c->set->out_total + len > CONNECTIONS_OUTPUT_BUDGET) {
		connection_kill(c, "slow reader: the daemon's output budget is used up");
		return;
	}
	if (c->out_len + len > c->out_cap && grow(c, len) < 0) {
		connection_kill(c, "out of memory");
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	c->set->out_total += len;
	connection_flush(c);
}

/*
 * Was what recvmsg() returned written by someone else than the peer (SCM_CREDENTIALS)?
 * Root writing on root's connection is root either way. No credentials: not the peer.
 */
static bool foreign_writer(const struct connection *c, struct msghdr *mh)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(mh); h; h = CMSG_NXTHDR(mh, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
		    h->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred u;

			memcpy(&u, CMSG_DATA(h), sizeof(u));
			return u.pid != c->pid && !(u.uid == 0 && c->uid == 0);
		}
	return true;
}

int connection_read(struct connection *c)
{
	while (c->in_len < sizeof(c->in)) {
		union {
			char buf[CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = c->in + c->in_len,
				     .iov_len = sizeof(c->in) - c->in_len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		ssize_t n;

		/*
		 * With SO_PASSCRED the kernel never merges bytes of two senders into one
		 * receive, so each chunk has one writer: the peer, or a process it shares the
		 * socket with (a child, or one it passed the descriptor to).
		 */
		n = recvmsg(c->src.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			n = -errno;
			connection_kill(c, "read failed");
			return (int)n;
		}
		if (n == 0) {
			c->input_closed = true;
			return 0;
		}
		c->in_len += (size_t)n;
		/* vsock carries no credentials: its peer is the CID, whoever wrote. */
		if (!c->vsock && foreign_writer(c, &mh))
			c->foreign_len = c->in_len;
		/* Do not buffer more than one line's worth ahead of the parser. */
		if (c->in_len >= PROTOCOL_LINE_MAX && !memchr(c->in, '\n', c->in_len))
			return 0;
	}
	return 0;
}

ssize_t connection_line(struct connection *c, bool *ret_foreign)
{
	char *nl = memchr(c->in, '\n', c->in_len);

	if (!nl)
		return -EAGAIN;
	*ret_foreign = c->foreign_len > 0;
	return nl - c->in;
}

void connection_consume(struct connection *c, size_t len)
{
	size_t n = len + 1 <= c->in_len ? len + 1 : c->in_len;

	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->foreign_len = c->foreign_len > n ? c->foreign_len - n : 0;
}

void connections_reap(struct connections *set)
{
	unsigned freed = 0;

	while (set->dead) {
		struct connection *c = set->dead;

		set->dead = c->dead_next;
		free(c->out);
		free(c);
		freed++;
	}
	/* After a flood has left, give its memory back instead of keeping the peak. */
	if (freed >= CONNECTIONS_TRIM_AFTER)
		malloc_trim(0);
}
