/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket: accepts clients, reads request lines, answers them in order
 * (docs/protocol.md), keeps the watchers and their acknowledged generations, counts
 * the outdated ones and completes WAIT requests. Everything is non-blocking: a
 * client's unsent output is buffered (up to PROTOCOL_OUTPUT_MAX, then it is dropped),
 * a client is never waited for, and a dead client is only marked during an event
 * batch and freed after it, so an epoll event still queued for it is harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "protocol.h"

enum {
	CLIENT_IN_MAX	= 4096,	/* pipelined requests buffered while one WAIT is pending */
	SWEEP_MS	= 1000,
	ACCEPT_BATCH	= 64,	/* accepts per wake-up, so a flood cannot starve the others */
	FD_RESERVE	= 32,	/* descriptors not for clients: our own ~16, the state file, /proc */
};

struct client {
	struct source src;
	struct server *srv;
	struct client *prev, *next;
	pid_t pid;
	uid_t uid;

	char in[CLIENT_IN_MAX];
	size_t in_len;
	char *out;
	size_t out_off, out_len, out_cap;	/* pending bytes are out[out_off, out_len) */

	bool watcher;
	uint32_t acked;
	bool spoke;			/* has sent a complete line */
	uint64_t accepted_ms;
	uint64_t partial_since_ms;	/* 0: no unfinished line */
	bool waiting;
	uint64_t wait_deadline_ms;	/* 0: forever */
	bool eof;			/* the peer shut down its sending side */
	bool closing;			/* close once the output is flushed */
	bool dead;
	bool resume;			/* a WAIT finished: parse the buffered lines */
	struct client *dead_next;	/* next keeps pointing into the live list */
	uint32_t events;
};

struct server {
	struct daemon *d;
	struct source listen;
	struct client *clients;
	struct client *dead;
	unsigned n_clients, n_watchers, n_outdated, n_waiting, n_resume;
	int spare_fd;			/* given up to accept-and-refuse when out of fds */
	unsigned max_clients;		/* PROTOCOL_MAX_CLIENTS, or less under a low RLIMIT_NOFILE */
	bool accept_ready;		/* the listening socket is readable: accept in server_tick */
	bool accept_retry;		/* full: one more round of events before refusing */
	uint64_t next_sweep_ms;
};

static void client_kill(struct client *c, const char *why)
{
	struct server *srv = c->srv;

	if (c->dead)
		return;
	log_debug("Client fd %d (pid %d) dropped: %s", c->src.fd, (int)c->pid, why);
	c->dead = true;
	if (c->watcher) {
		srv->n_watchers--;
		/* A disconnected watcher stops counting at once (docs/protocol.md). */
		if (c->acked != srv->d->generation)
			srv->n_outdated--;
	}
	if (c->waiting)
		srv->n_waiting--;
	daemon_del_source(srv->d, &c->src);
	close(c->src.fd);
	c->src.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_clients--;
	if (c->resume)
		srv->n_resume--;
	c->dead_next = srv->dead;
	srv->dead = c;
}

static void client_update_events(struct client *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (!c->waiting && !c->closing && !c->eof && c->in_len < CLIENT_IN_MAX)
		ev |= EPOLLIN;
	if (c->out_len > c->out_off)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	if (daemon_mod_source(c->srv->d, &c->src, ev) < 0) {
		client_kill(c, "epoll_ctl failed");
		return;
	}
	c->events = ev;
}

static void client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->src.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_kill(c, "send failed");
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->closing && c->out_len == 0) {
		client_kill(c, "closed");
		return;
	}
	client_update_events(c);
}

static void client_queue(struct client *c, const char *buf, size_t len)
{
	if (c->dead || len == 0)
		return;
	if (c->out_len - c->out_off + len > PROTOCOL_OUTPUT_MAX) {
		client_kill(c, "slow reader: output limit exceeded");
		return;
	}
	if (c->out_off > 0 && c->out_len + len > c->out_cap) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		char *p;

		while (cap < c->out_len + len)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			client_kill(c, "out of memory");
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	client_flush(c);
}

static void reply_err(struct client *c, int error, const char *text)
{
	char buf[PROTOCOL_REPLY_MAX];
	int n = protocol_format_err(buf, sizeof(buf), error, text);

	if (n > 0)
		client_queue(c, buf, (size_t)n);
}

static void reply_u64(struct client *c, uint64_t v)
{
	char buf[PROTOCOL_REPLY_MAX];
	int n = protocol_format_ok_u64(buf, sizeof(buf), v);

	if (n > 0)
		client_queue(c, buf, (size_t)n);
}

static void send_gen(struct client *c, uint32_t gen)
{
	char buf[64];
	int n = protocol_format_gen(buf, sizeof(buf), gen);

	if (n > 0)
		client_queue(c, buf, (size_t)n);
}

static bool client_outdated(const struct client *c)
{
	return c->watcher && c->acked != c->srv->d->generation;
}

/* Is @c, or a watcher connection of the same peer process, outdated? */
static bool peer_outdated(struct client *c)
{
	if (client_outdated(c))
		return true;
	if (c->pid <= 0)
		return false;
	for (struct client *o = c->srv->clients; o; o = o->next)
		if (o->pid == c->pid && client_outdated(o))
			return true;
	return false;
}

static void wait_done(struct client *c)
{
	c->waiting = false;
	c->srv->n_waiting--;
}


/* Complete or interrupt the pending WAIT of @c with a reply, then go on reading. */
static void wait_finish(struct client *c, int error)
{
	wait_done(c);
	if (error)
		reply_err(c, error, error == EINTR ? "caller is an outdated watcher" :
			  "watchers still outdated");
	else
		reply_u64(c, 0);
	if (client_outdated(c))
		send_gen(c, c->srv->d->generation);
	/*
	 * Lines that arrived while it waited are parsed at the next tick, not here: this
	 * runs inside loops over the clients, and a request may raise the generation.
	 */
	if (!c->dead && !c->resume) {
		c->resume = true;
		c->srv->n_resume++;
	}
}

static bool privileged(struct client *c)
{
	struct daemon *d = c->srv->d;
	int r = peer_privileged(c->src.fd, d->opt.have_group, d->opt.group);

	if (r < 0)
		log_debug_errno(r, "Cannot read credentials of pid %d", (int)c->pid);
	return r > 0;
}

static void handle_request(struct client *c, const struct protocol_request *req)
{
	struct server *srv = c->srv;
	struct daemon *d = srv->d;
	char buf[PROTOCOL_REPLY_MAX];
	int n, r;

	switch (req->type) {
	case PROTOCOL_REQUEST_HELLO:
		if (req->arg != PROTOCOL_VERSION)
			reply_err(c, EPROTO, "unsupported version");
		else
			reply_u64(c, PROTOCOL_VERSION);
		break;
	case PROTOCOL_REQUEST_STATUS: {
		struct protocol_status st = {
			.version = PROTOCOL_VERSION,
			.generation = d->generation,
			.epoch = SNAPSAFE_EPOCH_MAKE(d->epoch_id, d->epoch_counter),
			.epoch_notifier = d->epoch_id,
			.watchers = srv->n_watchers,
			.outdated = srv->n_outdated,
			.quiesced = d->quiesced,
			.last_raise_ns = d->last_raise_ns,
			.notifiers_live = d->live,
		};

		n = protocol_status_format(buf, sizeof(buf), &st);
		if (n > 0)
			client_queue(c, buf, (size_t)n);
		else
			reply_err(c, EIO, "status does not fit");
		break;
	}
	case PROTOCOL_REQUEST_WATCH:
		if (c->watcher) {
			reply_err(c, EALREADY, "already a watcher");
			break;
		}
		/* A new watcher starts acknowledged: it did not exist at the last raise. */
		c->watcher = true;
		c->acked = d->generation;
		srv->n_watchers++;
		reply_u64(c, c->acked);
		break;
	case PROTOCOL_REQUEST_READ:
		if (!c->watcher)
			reply_err(c, EINVAL, "not a watcher");
		else if (c->acked == d->generation)
			reply_err(c, EAGAIN, "no new generation");
		else
			reply_u64(c, d->generation);
		break;
	case PROTOCOL_REQUEST_ACK:
		if (!c->watcher) {
			reply_err(c, EINVAL, "not a watcher");
			break;
		}
		if (req->arg != d->generation) {
			reply_err(c, EINVAL, "stale generation");
			break;
		}
		if (c->acked != d->generation) {
			c->acked = d->generation;
			srv->n_outdated--;
		}
		reply_u64(c, c->acked);
		break;
	case PROTOCOL_REQUEST_OUTDATED:
		reply_u64(c, srv->n_outdated);
		break;
	case PROTOCOL_REQUEST_WAIT:
		if (peer_outdated(c)) {
			reply_err(c, EINTR, "caller is an outdated watcher");
		} else if (srv->n_outdated == 0) {
			reply_u64(c, 0);
		} else {
			c->waiting = true;
			c->wait_deadline_ms = req->arg ? now_monotonic_ms() + req->arg : 0;
			srv->n_waiting++;
			return;	/* the reply comes later; no GEN now, it is not outdated */
		}
		break;
	case PROTOCOL_REQUEST_TRIGGER:
		if (!privileged(c)) {
			reply_err(c, EACCES, "permission denied");
			break;
		}
		r = daemon_raise(d, SNAPSAFE_NOTIFIER_CONTROL, req->arg);
		if (r < 0)
			reply_err(c, -r, "cannot raise the generation");
		else
			reply_u64(c, d->generation);
		break;
	case PROTOCOL_REQUEST_QUIESCE:
		if (!privileged(c)) {
			reply_err(c, EACCES, "permission denied");
			break;
		}
		daemon_set_quiesced(d, true);
		daemon_new_epoch(d, SNAPSAFE_NOTIFIER_CONTROL);
		log_info("Quiesced at generation %u", d->generation);
		reply_u64(c, d->generation);
		break;
	case PROTOCOL_REQUEST_RESUME:
		if (!privileged(c)) {
			reply_err(c, EACCES, "permission denied");
			break;
		}
		daemon_set_quiesced(d, false);
		r = daemon_raise(d, SNAPSAFE_NOTIFIER_CONTROL, 0);
		if (r < 0)
			reply_err(c, -r, "cannot raise the generation");
		else
			reply_u64(c, d->generation);
		break;
	default:
		reply_err(c, EINVAL, "unknown request");
		break;
	}
	/* Keep an outdated watcher's socket readable (docs/protocol.md, "Watchers"). */
	if (client_outdated(c))
		send_gen(c, d->generation);
}

static void process_input(struct client *c)
{
	while (!c->dead && !c->waiting && !c->closing) {
		char *nl = memchr(c->in, '\n', c->in_len);
		struct protocol_request req;
		size_t len;
		int r;

		if (!nl) {
			if (c->in_len >= PROTOCOL_LINE_MAX) {
				reply_err(c, E2BIG, "line too long");
				c->closing = true;
				client_flush(c);
			} else if (c->in_len > 0 && c->partial_since_ms == 0) {
				c->partial_since_ms = now_monotonic_ms();
			} else if (c->in_len == 0) {
				c->partial_since_ms = 0;
			}
			break;
		}
		len = (size_t)(nl - c->in);
		c->spoke = true;
		r = protocol_request_parse(c->in, len, &req);
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
		c->partial_since_ms = 0;
		if (r == -E2BIG || r == -EPROTO) {
			reply_err(c, -r, r == -E2BIG ? "line too long" : "invalid byte in request");
			c->closing = true;
			client_flush(c);
			break;
		}
		if (r < 0) {
			reply_err(c, EINVAL, "unknown request");
			if (client_outdated(c))
				send_gen(c, c->srv->d->generation);
			continue;
		}
		handle_request(c, &req);
	}
	if (!c->dead && c->eof && !c->waiting && !c->closing &&
	    !memchr(c->in, '\n', c->in_len)) {
		/* The peer sent all it will send: answer what was complete, then close. */
		c->closing = true;
		client_flush(c);
	}
}

static void client_read(struct client *c)
{
	while (c->in_len < CLIENT_IN_MAX) {
		ssize_t n = read(c->src.fd, c->in + c->in_len, CLIENT_IN_MAX - c->in_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_kill(c, "read failed");
			return;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		c->in_len += (size_t)n;
		/* Do not buffer more than one line's worth ahead of the parser. */
		if (c->in_len >= PROTOCOL_LINE_MAX && !memchr(c->in, '\n', c->in_len))
			break;
	}
	process_input(c);
}

static void client_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	struct client *c = s->userdata;

	if (c->dead)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* Fully closed: nobody is left to read a reply. */
		client_kill(c, "hung up");
		return;
	}
	if (events & EPOLLOUT)
		client_flush(c);
	if (!c->dead && (events & EPOLLIN))
		client_read(c);
	if (!c->dead)
		client_update_events(c);
}

static void refuse(int fd)
{
	char buf[64];
	int n = protocol_format_err(buf, sizeof(buf), EMFILE, "too many clients");

	if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
	}
	close(fd);
}

/*
 * Accept after the event batch, not during it: the batch may hold the hang-ups of
 * clients that left, and their slots and descriptors are free only once those are
 * handled. (A level-triggered listening socket tends to come first in a batch.) When
 * full, a connection is refused only after one more round of events, and one per round:
 * a hang-up that came while epoll collected the last batch, or while we were refusing
 * (a client that was refused may leave and come back at once), is in the next one.
 */
static void listen_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	struct server *srv = s->userdata;

	srv->accept_ready = true;
}

static void accept_clients(struct daemon *d, struct server *srv, bool may_refuse)
{
	struct source *s = &srv->listen;

	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		struct ucred cred = {};
		socklen_t len = sizeof(cred);
		struct client *c;
		int fd;

		if (srv->n_clients >= srv->max_clients && !may_refuse) {
			srv->accept_retry = true;
			return;
		}

		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
				/* Free one fd to accept and refuse, so the backlog drains. */
				close(srv->spare_fd);
				fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd >= 0)
					refuse(fd);
				srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				log_warning("Out of file descriptors: refused a client");
				continue;
			}
			if (errno != EAGAIN)
				log_warning_errno(errno, "accept failed");
			return;
		}
		if (srv->n_clients >= srv->max_clients) {
			log_debug("Refused a client: %u clients already", srv->n_clients);
			refuse(fd);
			may_refuse = false;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			refuse(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			c->pid = cred.pid;
			c->uid = cred.uid;
		}
		c->src = (struct source) { .fd = fd, .dispatch = client_dispatch, .userdata = c };
		c->srv = srv;
		c->accepted_ms = now_monotonic_ms();
		c->events = EPOLLIN;
		if (daemon_add_source(d, &c->src, EPOLLIN) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->next = srv->clients;
		if (c->next)
			c->next->prev = c;
		srv->clients = c;
		srv->n_clients++;
	}
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

void server_raised(struct daemon *d)
{
	struct server *srv = d->server;
	pid_t *pids = NULL;
	size_t n_pids = 0;

	/* Every watcher existed at this raise and is outdated until it acks. */
	srv->n_outdated = srv->n_watchers;
	if (srv->n_waiting > 0 && srv->n_watchers > 0) {
		pids = malloc(sizeof(pid_t) * srv->n_watchers);
		if (pids) {
			for (struct client *c = srv->clients; c; c = c->next)
				if (c->watcher && c->pid > 0)
					pids[n_pids++] = c->pid;
			qsort(pids, n_pids, sizeof(pid_t), pid_cmp);
		}
	}
	for (struct client *c = srv->clients, *next; c; c = next) {
		next = c->next;
		if (c->watcher)
			send_gen(c, d->generation);
		if (c->dead || !c->waiting)
			continue;
		/* A waiter whose own watcher just became outdated would wait for itself. */
		if (c->watcher ||
		    (pids && c->pid > 0 && bsearch(&c->pid, pids, n_pids, sizeof(pid_t), pid_cmp)) ||
		    (!pids && peer_outdated(c)))
			wait_finish(c, EINTR);
	}
	free(pids);
}

int server_timeout_ms(struct daemon *d)
{
	struct server *srv = d->server;
	uint64_t now = now_monotonic_ms(), next = srv->next_sweep_ms;

	if (srv->n_waiting > 0)
		for (struct client *c = srv->clients; c; c = c->next)
			if (c->waiting && c->wait_deadline_ms && c->wait_deadline_ms < next)
				next = c->wait_deadline_ms;
	if (srv->n_resume > 0 || srv->accept_retry || next <= now)
		return 0;
	return next - now > SWEEP_MS ? SWEEP_MS : (int)(next - now);
}

void server_tick(struct daemon *d)
{
	struct server *srv = d->server;
	uint64_t now = now_monotonic_ms();
	bool retry;

	if (!srv)
		return;
	retry = srv->accept_retry;
	srv->accept_retry = false;
	if (srv->accept_ready) {
		srv->accept_ready = false;
		accept_clients(d, srv, retry);
	}
	if (srv->n_resume > 0) {
		for (struct client *c = srv->clients, *next; c; c = next) {
			next = c->next;
			if (c->dead || !c->resume)
				continue;
			c->resume = false;
			srv->n_resume--;
			process_input(c);
			client_update_events(c);
		}
	}
	if (srv->n_waiting > 0) {
		bool done = srv->n_outdated == 0;

		for (struct client *c = srv->clients, *next; c; c = next) {
			next = c->next;
			if (c->dead || !c->waiting)
				continue;
			if (done)
				wait_finish(c, 0);
			else if (c->wait_deadline_ms && c->wait_deadline_ms <= now)
				wait_finish(c, ETIMEDOUT);
		}
	}
	if (now >= srv->next_sweep_ms) {
		for (struct client *c = srv->clients, *next; c; c = next) {
			next = c->next;
			if (!c->spoke && !c->watcher && now - c->accepted_ms >= PROTOCOL_IDLE_TIMEOUT_MS)
				client_kill(c, "no request within the idle timeout");
			else if (c->partial_since_ms &&
				 now - c->partial_since_ms >= PROTOCOL_IDLE_TIMEOUT_MS)
				client_kill(c, "unfinished request line");
		}
		srv->next_sweep_ms = now + SWEEP_MS;
	}
	while (srv->dead) {
		struct client *c = srv->dead;

		srv->dead = c->dead_next;
		free(c->out);
		free(c);
	}
}

/*
 * Clients may not take the descriptors the daemon needs for itself (writing the state
 * file, reading /proc for a privilege check): under a low RLIMIT_NOFILE the client
 * limit shrinks so that FD_RESERVE stay free.
 */
static unsigned max_clients(void)
{
	struct rlimit rl;
	unsigned n = PROTOCOL_MAX_CLIENTS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)PROTOCOL_MAX_CLIENTS + FD_RESERVE) {
		n = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)rl.rlim_cur - FD_RESERVE :
						    (unsigned)rl.rlim_cur / 2;
		if (n == 0)
			n = 1;
		log_warning("RLIMIT_NOFILE is %llu: at most %u clients",
			    (unsigned long long)rl.rlim_cur, n);
	}
	return n;
}

int server_start(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct server *srv;
	mode_t old;
	int fd, r;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Socket path too long: %s", d->socket_path);
	strcpy(sa.sun_path, d->socket_path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(errno, "socket");
	/* A stale socket from a killed daemon; the page lock proves no other daemon runs. */
	if (unlink(d->socket_path) < 0 && errno != ENOENT)
		log_warning_errno(errno, "Cannot remove %s", d->socket_path);
	old = umask(0111);	/* 0666: anyone may watch */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "Cannot bind %s", d->socket_path);
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "listen");
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(fd);
		return log_error_errno(ENOMEM, "Out of memory");
	}
	srv->d = d;
	srv->listen = (struct source) { .fd = fd, .dispatch = listen_dispatch, .userdata = srv };
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->max_clients = max_clients();
	srv->next_sweep_ms = now_monotonic_ms() + SWEEP_MS;
	r = daemon_add_source(d, &srv->listen, EPOLLIN);
	if (r < 0) {
		close(fd);
		free(srv);
		return log_error_errno(r, "epoll_ctl");
	}
	d->server = srv;
	return 0;
}

void server_stop(struct daemon *d)
{
	struct server *srv = d->server;

	if (!srv)
		return;
	while (srv->clients)
		client_kill(srv->clients, "daemon exiting");
	server_tick(d);
	daemon_del_source(d, &srv->listen);
	close(srv->listen.fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	unlink(d->socket_path);
	free(srv);
	d->server = NULL;
}
