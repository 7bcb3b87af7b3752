/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket (see server.h): accepting within the limits, parsing and answering
 * requests, WAIT, and the server's side of a raise.
 *
 * Limits (docs/daemon.md, "Connections"): --max-clients in all (fewer when RLIMIT_NOFILE
 * is low: FD_RESERVE descriptors stay free for the state file and /proc), of which the
 * last --reserved-clients only for privileged peers, and --max-clients-per-uid for any one
 * user but root. So no user can take every slot and lock the control plane out.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "connection.h"
#include "log.h"
#include "privilege.h"
#include "protocol.h"
#include "server.h"
#include "vmclock.h"
#include "watchers.h"

#define server_of(set) ((struct server *)(void *)((char *)(set) - offsetof(struct server, conns)))

enum {
	SWEEP_MS	= 1000,
	REFUSAL_LOG_BURST = 10,
	ACCEPT_BATCH	= 64,	/* accepts per wake-up, so a flood cannot starve the others */
	FD_RESERVE	= 32,	/* descriptors not for clients: our own ~16, the state file, /proc */
};

struct server {
	struct event_loop *loop;
	struct core *core;
	const struct options *opt;
	struct source listen;
	struct connections conns;
	struct watchers watchers;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int spare_fd;			/* given up to accept-and-refuse when out of fds */
	unsigned max_clients;		/* --max-clients, or less under a low RLIMIT_NOFILE */
	bool accept_ready;		/* the listening socket is readable: accept in server_tick */
	bool accept_retry;		/* full: one more round of events before refusing */
	uint64_t next_sweep_ms;
	/* Counters for METRICS, since start. */
	uint64_t accepted, refused_clients, refused_requests;
	/* Refused connections are logged at most REFUSAL_LOG_BURST a second. */
	uint64_t refusal_log_second;
	unsigned refusals_logged, refusals_unlogged;
};

static uint32_t generation(const struct server *srv)
{
	return core_values(srv->core)->generation;
}

static void reply_err(struct connection *c, int error, const char *text)
{
	char buf[PROTOCOL_REPLY_MAX];
	int n = protocol_format_err(buf, sizeof(buf), error, text);

	if (n > 0)
		connection_queue(c, buf, (size_t)n);
}

static void reply_u64(struct connection *c, uint64_t v)
{
	char buf[PROTOCOL_REPLY_MAX];
	int n = protocol_format_ok_u64(buf, sizeof(buf), v);

	if (n > 0)
		connection_queue(c, buf, (size_t)n);
}

static void send_gen(struct connection *c, uint32_t gen)
{
	char buf[64];
	int n = protocol_format_gen(buf, sizeof(buf), gen);

	if (n > 0)
		connection_queue(c, buf, (size_t)n);
}

/* Keep an outdated watcher's socket readable (docs/protocol.md, "Watchers"). */
static void send_gen_if_outdated(struct server *srv, struct connection *c)
{
	if (c->phase != CONNECTION_DEAD && watcher_outdated(&c->watcher, generation(srv)))
		send_gen(c, generation(srv));
}

/* Is @c's process (its own watcher or another connection of the same pid) outdated? */
static bool peer_outdated(const struct server *srv, const struct connection *c)
{
	return watcher_outdated(&c->watcher, generation(srv)) ||
	       watchers_pid_outdated(&srv->watchers, c->pid, generation(srv));
}

/* End the pending WAIT of @c with a reply (0: success), then go on reading. */
static void wait_finish(struct server *srv, struct connection *c, int error)
{
	char text[PROTOCOL_REPLY_MAX - 32];

	c->phase = CONNECTION_READY;
	if (error == ETIMEDOUT) {
		int n = snprintf(text, sizeof(text), "outdated watcher pids: ");

		watchers_format_outdated_pids(&srv->watchers, generation(srv), text + n,
					      sizeof(text) - (size_t)n);
		reply_err(c, error, text);
	} else if (error) {
		reply_err(c, error, "caller is an outdated watcher");
	} else {
		reply_u64(c, 0);
	}
	send_gen_if_outdated(srv, c);
	/*
	 * Lines that arrived while it waited are parsed at the next tick, not here: this
	 * runs inside loops over the connections, and a request may raise the generation.
	 */
	c->reparse = true;
}

/* The audit trail for a vsock peer: its CID is who it is (vsock-policy.h). */
static void log_request_vsock(struct server *srv, struct connection *c, const char *what,
			      const char *why)
{
	char freq[32], fcid[32], fgen[32];
	const char *fields[] = { freq, fcid, fgen, NULL };

	snprintf(freq, sizeof(freq), "REQUEST=%s", what);
	snprintf(fcid, sizeof(fcid), "PEER_CID=%u", c->vsock_cid);
	snprintf(fgen, sizeof(fgen), "GENERATION=%u", generation(srv));
	if (why)
		log_struct(LOG_NOTICE, LOG_MESSAGE_REFUSED, fields, "Refused %s from vsock CID %u: "
			   "%s", what, c->vsock_cid, why);
	else
		log_struct(LOG_NOTICE, LOG_MESSAGE_PRIVILEGED, fields, "%s by vsock CID %u: "
			   "generation %u%s", what, c->vsock_cid, generation(srv),
			   core_values(srv->core)->quiesced ? ", quiesced" : "");
}

/*
 * The audit trail of a privileged request, carried out (@why NULL) or refused: who asked
 * (pid, uid, the process name it chose), what, and the generation after it.
 */
static void log_request(struct server *srv, struct connection *c, const char *what,
			const char *why)
{
	char comm[16], freq[32], fpid[32], fuid[32], fcomm[48], fgen[32];
	const char *fields[] = { freq, fpid, fuid, fcomm, fgen, NULL };

	if (c->vsock) {
		log_request_vsock(srv, c, what, why);
		return;
	}
	peer_comm(c->pid, comm);
	snprintf(freq, sizeof(freq), "REQUEST=%s", what);
	snprintf(fpid, sizeof(fpid), "PEER_PID=%d", (int)c->pid);
	snprintf(fuid, sizeof(fuid), "PEER_UID=%u", (unsigned)c->uid);
	snprintf(fcomm, sizeof(fcomm), "PEER_COMM=%s", comm);
	snprintf(fgen, sizeof(fgen), "GENERATION=%u", generation(srv));
	if (why)
		log_struct(LOG_NOTICE, LOG_MESSAGE_REFUSED, fields, "Refused %s from pid %d uid %u "
			   "comm %s: %s", what, (int)c->pid, (unsigned)c->uid, comm, why);
	else
		log_struct(LOG_NOTICE, LOG_MESSAGE_PRIVILEGED, fields, "%s by pid %d uid %u comm %s: "
			   "generation %u%s", what, (int)c->pid, (unsigned)c->uid, comm,
			   generation(srv), core_values(srv->core)->quiesced ? ", quiesced" : "");
}

/*
 * May this request use TRIGGER, QUIESCE, RESUME? Only when the connecting process wrote
 * it itself (@foreign: another process sharing the socket did) and privilege.c says the
 * connecting process has the right now.
 */
static bool allowed(struct server *srv, struct connection *c, bool foreign, const char *what)
{
	const char *why = NULL;
	int r;

	if (c->vsock) {
		if (vsock_request_permitted(c->vsock_access, PROTOCOL_REQUEST_TRIGGER))
			return true;
		why = "this CID may not control over vsock (--vsock-allow)";
	} else if (foreign) {
		why = "written by another process than the one that connected";
	} else {
		r = peer_privileged(c->src.fd, srv->opt->have_group, srv->opt->group);
		if (r > 0)
			return true;
		if (r < 0)
			log_debug_errno(r, "Cannot read credentials of pid %d", (int)c->pid);
		why = "no privilege";
	}
	log_request(srv, c, what, why);
	srv->refused_requests++;
	reply_err(c, EACCES, "permission denied");
	return false;
}

static void reply_status(struct server *srv, struct connection *c)
{
	const struct core_values *v = core_values(srv->core);
	struct protocol_status st = {
		.version = PROTOCOL_VERSION,
		.generation = v->generation,
		.epoch = core_epoch_word(v),
		.epoch_notifier = v->epoch_id,
		.watchers = watchers_count(&srv->watchers),
		.outdated = watchers_outdated(&srv->watchers, v->generation),
		.quiesced = v->quiesced,
		.last_raise_ns = v->last_raise_ns,
		.notifiers_live = v->live,
		.daemon_pid = (uint32_t)getpid(),
		.raise_notifier = v->raise_id,
		.vmclock_access = vmclock_access(srv->opt->vmclock_path),
	};
	char buf[PROTOCOL_REPLY_MAX];
	int n;

	snprintf(st.daemon_version, sizeof(st.daemon_version), "%s", SNAPSAFE_VERSION);
	n = protocol_status_format(buf, sizeof(buf), &st);

	if (n > 0)
		connection_queue(c, buf, (size_t)n);
	else
		reply_err(c, EIO, "status does not fit");
}

/* One page of the registry, from index @start. */
static void reply_watchers(struct server *srv, struct connection *c, uint32_t start, uint64_t now)
{
	struct protocol_watcher page[PROTOCOL_WATCHERS_PAGE_MAX];
	char buf[PROTOCOL_REPLY_MAX];
	uint64_t total = 0;
	unsigned n = 0, used;
	int len;

	for (const struct watcher *w = srv->watchers.head; w; w = w->next, total++) {
		if (total < start || n == PROTOCOL_WATCHERS_PAGE_MAX)
			continue;
		page[n] = (struct protocol_watcher) {
			.pid = (uint32_t)w->pid, .uid = (uint32_t)w->uid, .acked = w->acked,
			.outdated_ms = watcher_outdated(w, generation(srv)) && w->outdated_since_ms ?
				       (now > w->outdated_since_ms ?
					now - w->outdated_since_ms : 1) : 0,
		};
		snprintf(page[n].comm, sizeof(page[n].comm), "%s", w->comm);
		n++;
	}
	if (start > total)
		start = (uint32_t)total;
	len = protocol_watchers_format(buf, sizeof(buf), total, start, page, n, &used);
	if (len > 0)
		connection_queue(c, buf, (size_t)len);
	else
		reply_err(c, EIO, "watchers do not fit");
}

static void reply_metrics(struct server *srv, struct connection *c)
{
	const struct core_values *v = core_values(srv->core);
	struct protocol_metrics m = {
		.clients = srv->conns.count,
		.accepted = srv->accepted,
		.refused_clients = srv->refused_clients,
		.refused_requests = srv->refused_requests,
		.watchers = watchers_count(&srv->watchers),
		.outdated = watchers_outdated(&srv->watchers, v->generation),
	};
	char buf[PROTOCOL_REPLY_MAX];
	int len;

	memcpy(m.raises, v->raises, sizeof(m.raises));
	memcpy(m.epochs, v->epochs, sizeof(m.epochs));
	len = protocol_metrics_format(buf, sizeof(buf), &m);
	if (len > 0)
		connection_queue(c, buf, (size_t)len);
	else
		reply_err(c, EIO, "metrics do not fit");
}

static void handle_trigger(struct server *srv, struct connection *c, uint32_t min_gen)
{
	char text[96];
	int r;

	r = core_raise(srv->core, SNAPSAFE_NOTIFIER_CONTROL, min_gen);
	if (r == -ERANGE) {
		snprintf(text, sizeof(text), "min-gen leaves fewer than %u generations",
			 (unsigned)CORE_GENERATION_HEADROOM);
		log_request(srv, c, "TRIGGER", text);
		srv->refused_requests++;
		reply_err(c, ERANGE, text);
	} else if (r < 0) {
		reply_err(c, -r, "cannot raise the generation");
	} else {
		log_request(srv, c, "TRIGGER", NULL);
		reply_u64(c, generation(srv));
	}
}

static void handle_request(struct server *srv, struct connection *c,
			   const struct protocol_request *req, bool foreign, uint64_t now)
{
	uint32_t gen = generation(srv);
	int r;

	/* Watchers are local processes; a vsock peer reads and, if allowed, controls. */
	if (c->vsock && !vsock_request_permitted(VSOCK_ACCESS_CONTROL, req->type)) {
		reply_err(c, EACCES, "not over vsock: watchers are local processes");
		send_gen_if_outdated(srv, c);
		return;
	}
	switch (req->type) {
	case PROTOCOL_REQUEST_HELLO:
		if (req->arg != PROTOCOL_VERSION)
			reply_err(c, EPROTO, "unsupported version");
		else
			reply_u64(c, PROTOCOL_VERSION);
		break;
	case PROTOCOL_REQUEST_STATUS:
		reply_status(srv, c);
		break;
	case PROTOCOL_REQUEST_WATCH:
		if (c->watcher.registered) {
			reply_err(c, EALREADY, "already a watcher");
			break;
		}
		/* A new watcher starts acknowledged: it did not exist at the last raise. */
		{
			char comm[16];

			peer_comm(c->pid, comm);
			watchers_add(&srv->watchers, &c->watcher, c->pid, c->uid, gen, comm);
		}
		reply_u64(c, gen);
		break;
	case PROTOCOL_REQUEST_READ:
		if (!c->watcher.registered)
			reply_err(c, EINVAL, "not a watcher");
		else if (c->watcher.acked == gen)
			reply_err(c, EAGAIN, "no new generation");
		else
			reply_u64(c, gen);
		break;
	case PROTOCOL_REQUEST_ACK:
		if (!c->watcher.registered)
			reply_err(c, EINVAL, "not a watcher");
		else if (req->arg != gen)
			reply_err(c, EINVAL, "stale generation");
		else {
			watcher_ack(&c->watcher, gen);
			reply_u64(c, gen);
		}
		break;
	case PROTOCOL_REQUEST_OUTDATED:
		reply_u64(c, watchers_outdated(&srv->watchers, gen));
		break;
	case PROTOCOL_REQUEST_WAIT:
		if (peer_outdated(srv, c)) {
			reply_err(c, EDEADLK, "caller is an outdated watcher");
		} else if (watchers_outdated(&srv->watchers, gen) == 0) {
			reply_u64(c, 0);
		} else {
			c->phase = CONNECTION_WAITING;
			c->wait_deadline_ms = req->arg ? now + req->arg : 0;
			return;	/* the reply comes later; no GEN now, it is not outdated */
		}
		break;
	case PROTOCOL_REQUEST_WATCHERS:
		reply_watchers(srv, c, req->arg, now);
		break;
	case PROTOCOL_REQUEST_METRICS:
		reply_metrics(srv, c);
		break;
	case PROTOCOL_REQUEST_TRIGGER:
		if (allowed(srv, c, foreign, "TRIGGER"))
			handle_trigger(srv, c, req->arg);
		break;
	case PROTOCOL_REQUEST_QUIESCE:
		if (!allowed(srv, c, foreign, "QUIESCE"))
			break;
		core_quiesce(srv->core);
		log_request(srv, c, "QUIESCE", NULL);
		reply_u64(c, generation(srv));
		break;
	case PROTOCOL_REQUEST_RESUME:
		if (!allowed(srv, c, foreign, "RESUME"))
			break;
		r = core_resume(srv->core);
		if (r < 0) {
			log_request(srv, c, "RESUME", "the generation is at its maximum; still "
				    "quiesced (see snapsafed(8), RECOVERY)");
			reply_err(c, -r, "generation at its maximum: still quiesced");
		} else {
			log_request(srv, c, "RESUME", NULL);
			reply_u64(c, generation(srv));
		}
		break;
	default:
		reply_err(c, EINVAL, "unknown request");
		break;
	}
	send_gen_if_outdated(srv, c);
}

/* Parse and answer complete lines while the phase and the backpressure allow it. */
static void process_input(struct server *srv, struct connection *c, uint64_t now)
{
	while ((c->phase == CONNECTION_NEW || c->phase == CONNECTION_READY) &&
	       !connection_output_pending(c)) {
		struct protocol_request req;
		bool foreign;
		ssize_t len = connection_line(c, &foreign);
		int r;

		if (len < 0) {
			if (c->in_len >= PROTOCOL_LINE_MAX) {
				reply_err(c, E2BIG, "line too long");
				connection_close_after_output(c);
				return;
			}
			if (c->in_len == 0)
				c->partial_since_ms = 0;
			else if (!c->partial_since_ms)
				c->partial_since_ms = now;
			break;
		}
		c->phase = CONNECTION_READY;
		c->partial_since_ms = 0;
		r = protocol_request_parse(c->in, (size_t)len, &req);
		connection_consume(c, (size_t)len);
		if (r == -E2BIG || r == -EPROTO) {
			reply_err(c, -r, r == -E2BIG ? "line too long" : "invalid byte in request");
			connection_close_after_output(c);
			return;
		}
		if (r < 0) {
			reply_err(c, EINVAL, "unknown request");
			send_gen_if_outdated(srv, c);
			continue;
		}
		handle_request(srv, c, &req, foreign, now);
	}
	/* The peer sent all it will send: answer what was complete, then close. */
	if (c->input_closed && (c->phase == CONNECTION_NEW || c->phase == CONNECTION_READY) &&
	    !memchr(c->in, '\n', c->in_len))
		connection_close_after_output(c);
}

static void connection_dispatch(struct source *s, uint32_t events)
{
	struct connection *c = s->userdata;
	struct server *srv = server_of(c->set);

	if (c->phase == CONNECTION_DEAD)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* Fully closed: nobody is left to read a reply. */
		connection_kill(c, "hung up");
		return;
	}
	if (events & EPOLLOUT)
		connection_flush(c);
	if (c->phase != CONNECTION_DEAD && (events & EPOLLIN))
		(void)connection_read(c);
	/* Also after a flush alone: lines held back by the backpressure are due now. */
	if (c->phase != CONNECTION_DEAD)
		process_input(srv, c, event_loop_now(srv->loop));
	connection_update_events(c);
}

static void refuse(int fd, const char *why)
{
	char buf[PROTOCOL_REPLY_MAX];
	int n = protocol_format_err(buf, sizeof(buf), EMFILE, why);

	if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* The peer is told if it listens; it is refused either way. */
	}
	close(fd);
}

static unsigned connections_of_uid(const struct server *srv, uid_t uid)
{
	unsigned n = 0;

	for (const struct connection *c = srv->conns.head; c; c = c->next)
		n += c->uid == uid;
	return n;
}

/*
 * May a connection of @fd's peer take a slot now? Return: NULL yes, else why not. The
 * privilege check (a /proc read) runs only for a peer that wants a reserved slot.
 */
static const char *admission_refused(struct server *srv, int fd)
{
	unsigned count = srv->conns.count, reserved = srv->opt->reserved_clients;
	unsigned general = srv->max_clients > reserved ? srv->max_clients - reserved : 0;
	struct ucred cred = {};
	socklen_t len = sizeof(cred);

	if (count >= srv->max_clients)
		return "too many clients";
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return "cannot tell who connected";
	if (cred.uid != 0 && connections_of_uid(srv, cred.uid) >= srv->opt->max_clients_per_uid)
		return "too many connections of this user";
	if (count >= general && peer_privileged(fd, srv->opt->have_group, srv->opt->group) <= 0)
		return "too many clients (the rest are kept for privileged peers)";
	return NULL;
}

/*
 * Accept after the event batch, not during it: the batch may hold the hang-ups of
 * connections that left, and their slots and descriptors are free only once those are
 * handled. (A level-triggered listening socket tends to come first in a batch.) When
 * full, a connection is refused only after one more round of events, and one per round:
 * a hang-up that came while epoll collected the last batch, or while we were refusing
 * (a client that was refused may leave and come back at once), is in the next one.
 */
static void listen_dispatch(struct source *s, uint32_t events)
{
	struct server *srv = s->userdata;

	srv->accept_ready = true;
}

/*
 * Count a refused connection (Unix or vsock); may it be logged? A flood is summarised
 * instead of logged line by line: at most REFUSAL_LOG_BURST lines a second, then one count.
 */
static bool refusal_may_log(struct server *srv, uint64_t now)
{
	srv->refused_clients++;
	if (now / 1000 != srv->refusal_log_second) {
		if (srv->refusals_unlogged)
			log_notice("Refused %u more connections in the last second",
				   srv->refusals_unlogged);
		srv->refusal_log_second = now / 1000;
		srv->refusals_logged = srv->refusals_unlogged = 0;
	}
	if (srv->refusals_logged >= REFUSAL_LOG_BURST) {
		srv->refusals_unlogged++;
		return false;
	}
	srv->refusals_logged++;
	return true;
}

/* The audit trail of a refused Unix connection: who, and why. */
static void log_refusal(struct server *srv, int fd, const char *why, uint64_t now)
{
	struct ucred cred = {};
	socklen_t len = sizeof(cred);
	char comm[16];

	if (!refusal_may_log(srv, now))
		return;
	(void)getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	peer_comm(cred.pid, comm);
	{
		char fpid[32], fuid[32], fcomm[48];
		const char *fields[] = { "REQUEST=connect", fpid, fuid, fcomm, NULL };

		snprintf(fpid, sizeof(fpid), "PEER_PID=%d", (int)cred.pid);
		snprintf(fuid, sizeof(fuid), "PEER_UID=%u", (unsigned)cred.uid);
		snprintf(fcomm, sizeof(fcomm), "PEER_COMM=%s", comm);
		log_struct(LOG_NOTICE, LOG_MESSAGE_REFUSED, fields, "Refused a connection from "
			   "pid %d uid %u comm %s: %s (%u connections)", (int)cred.pid,
			   (unsigned)cred.uid, comm, why, srv->conns.count);
	}
}

static void accept_connections(struct server *srv, bool may_refuse, uint64_t now)
{
	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		struct connection *c;
		const char *why;
		int fd;

		if (srv->conns.count >= srv->max_clients && !may_refuse) {
			srv->accept_retry = true;
			return;
		}
		fd = accept4(srv->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
				/* Free one fd to accept and refuse, so the backlog drains. */
				close(srv->spare_fd);
				fd = accept4(srv->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd >= 0) {
					srv->refused_clients++;
					refuse(fd, "too many clients");
				}
				srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				log_warning("Out of file descriptors: refused a client");
				continue;
			}
			if (errno != EAGAIN)
				log_warning_errno(errno, "accept failed");
			return;
		}
		why = admission_refused(srv, fd);
		if (why) {
			log_refusal(srv, fd, why, now);
			refuse(fd, why);
			if (srv->conns.count >= srv->max_clients)
				may_refuse = false;
			continue;
		}
		if (connection_new(&srv->conns, fd, now, &c) < 0)
			log_warning("Cannot take a new client");
		else
			srv->accepted++;
	}
}

static unsigned connections_of_cid(const struct server *srv, uint32_t cid)
{
	unsigned n = 0;

	for (const struct connection *c = srv->conns.head; c; c = c->next)
		n += c->vsock && c->vsock_cid == cid;
	return n;
}

/* admission_refused() for a vsock peer: the CID stands for the uid, control for privilege. */
static const char *vsock_admission_refused(struct server *srv, uint32_t cid,
					   enum vsock_access access, int *ret_error)
{
	unsigned count = srv->conns.count, reserved = srv->opt->reserved_clients;
	unsigned general = srv->max_clients > reserved ? srv->max_clients - reserved : 0;

	*ret_error = EMFILE;
	if (access == VSOCK_ACCESS_NONE) {
		*ret_error = EACCES;
		return "this CID may not connect over vsock (--vsock-allow)";
	}
	if (count >= srv->max_clients)
		return "too many clients";
	if (connections_of_cid(srv, cid) >= srv->opt->max_clients_per_uid)
		return "too many connections of this CID";
	if (count >= general && access != VSOCK_ACCESS_CONTROL)
		return "too many clients (the rest are kept for privileged peers)";
	return NULL;
}

void server_take_vsock(struct server *srv, int fd, uint32_t cid, enum vsock_access access)
{
	uint64_t now = event_loop_now(srv->loop);
	struct connection *c;
	const char *why;
	int error;

	why = vsock_admission_refused(srv, cid, access, &error);
	if (why) {
		char buf[PROTOCOL_REPLY_MAX];
		int n = protocol_format_err(buf, sizeof(buf), error, why);

		if (refusal_may_log(srv, now)) {
			char fcid[32];
			const char *fields[] = { "REQUEST=connect", fcid, NULL };

			snprintf(fcid, sizeof(fcid), "PEER_CID=%u", cid);
			log_struct(LOG_NOTICE, LOG_MESSAGE_REFUSED, fields, "Refused a vsock "
				   "connection from CID %u: %s (%u connections)", cid, why,
				   srv->conns.count);
		}
		if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* The peer is told if it listens; it is refused either way. */
		}
		close(fd);
		return;
	}
	if (connection_new_vsock(&srv->conns, fd, now, cid, access, &c) < 0)
		log_warning("Cannot take a new vsock client");
	else
		srv->accepted++;
}

int server_timeout_ms(const struct server *srv, uint64_t now)
{
	uint64_t next = srv->next_sweep_ms;

	for (const struct connection *c = srv->conns.head; c; c = c->next) {
		if (c->reparse)
			return 0;
		if (c->phase == CONNECTION_WAITING && c->wait_deadline_ms &&
		    c->wait_deadline_ms < next)
			next = c->wait_deadline_ms;
	}
	if (srv->accept_retry || next <= now)
		return 0;
	return next - now > SWEEP_MS ? SWEEP_MS : (int)(next - now);
}

/* The idle rules: a silent new connection, or a line left unfinished, for too long. */
static void sweep(struct server *srv, uint64_t now)
{
	for (struct connection *c = srv->conns.head, *next; c; c = next) {
		next = c->next;
		if (c->phase == CONNECTION_NEW && !c->watcher.registered &&
		    now >= c->accepted_ms + PROTOCOL_IDLE_TIMEOUT_MS)
			connection_kill(c, "no request within the idle timeout");
		else if (c->partial_since_ms &&
			 now >= c->partial_since_ms + PROTOCOL_IDLE_TIMEOUT_MS)
			connection_kill(c, "unfinished request line");
	}
}

void server_tick(struct server *srv, uint64_t now)
{
	bool retry = srv->accept_retry, none_outdated;

	srv->accept_retry = false;
	if (srv->accept_ready) {
		srv->accept_ready = false;
		accept_connections(srv, retry, now);
	}
	none_outdated = watchers_outdated(&srv->watchers, generation(srv)) == 0;
	for (struct connection *c = srv->conns.head, *next; c; c = next) {
		next = c->next;
		if (c->reparse) {
			c->reparse = false;
			process_input(srv, c, now);
			connection_update_events(c);
		}
		if (c->phase != CONNECTION_WAITING)
			continue;
		if (none_outdated)
			wait_finish(srv, c, 0);
		else if (c->wait_deadline_ms && c->wait_deadline_ms <= now)
			wait_finish(srv, c, ETIMEDOUT);
		connection_update_events(c);
	}
	if (now >= srv->next_sweep_ms) {
		sweep(srv, now);
		srv->next_sweep_ms = now + SWEEP_MS;
	}
	connections_reap(&srv->conns);
}

/* The server as the last sink: a raise goes to every watcher, and ends some waits. */
static int server_publish(void *ctx, const struct core_values *v, unsigned changes)
{
	struct server *srv = ctx;

	if (!(changes & CORE_CHANGE_GENERATION))
		return 0;
	watchers_raised(&srv->watchers, event_loop_now(srv->loop));
	for (struct connection *c = srv->conns.head, *next; c; c = next) {
		next = c->next;
		if (c->watcher.registered)
			send_gen(c, v->generation);
		/* A waiter whose own process just became outdated would wait for itself. */
		if (c->phase == CONNECTION_WAITING && peer_outdated(srv, c))
			wait_finish(srv, c, EDEADLK);
	}
	return 0;
}

const struct sink_ops server_sink = {
	.name = "server",
	.publish = server_publish,
};

/*
 * Clients may not take the descriptors the daemon needs for itself (writing the state
 * file, reading /proc for a privilege check): under a low RLIMIT_NOFILE the client
 * limit shrinks so that FD_RESERVE stay free.
 */
static unsigned fd_client_limit(unsigned wanted)
{
	struct rlimit rl;
	unsigned n = wanted;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)wanted + FD_RESERVE) {
		n = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)rl.rlim_cur - FD_RESERVE :
						    (unsigned)rl.rlim_cur / 2;
		if (n == 0)
			n = 1;
		log_warning("RLIMIT_NOFILE is %llu: at most %u clients",
			    (unsigned long long)rl.rlim_cur, n);
	}
	return n;
}

int server_start(struct event_loop *loop, struct core *core, const struct options *opt,
		 const char *socket_path, struct server **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct server *srv;
	int fd, one = 1, r;
	mode_t old;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Socket path too long: %s", socket_path);
	strcpy(sa.sun_path, socket_path);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return log_error_errno(ENOMEM, "Out of memory");
	*srv = (struct server) {
		.loop = loop, .core = core, .opt = opt, .listen.fd = -1, .spare_fd = -1,
		.conns = { .loop = loop, .dispatch = connection_dispatch },
	};
	srv->conns.watchers = &srv->watchers;
	strcpy(srv->socket_path, socket_path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = log_error_errno(errno, "socket");
		goto fail;
	}
	srv->listen = (struct source) { .fd = fd, .dispatch = listen_dispatch, .userdata = srv };
	/* Every request arrives with its writer's pid (connections inherit it). */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = log_error_errno(errno, "SO_PASSCRED");
		goto fail;
	}
	/* A stale socket from a killed daemon; the page lock proves no other daemon runs. */
	if (unlink(socket_path) < 0 && errno != ENOENT)
		log_warning_errno(errno, "Cannot remove %s", socket_path);
	old = umask(0111);	/* 0666: anyone may watch */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (r < 0) {
		log_error_errno(r, "Cannot bind %s", socket_path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = log_error_errno(errno, "listen");
		goto fail;
	}
	r = event_loop_add(loop, &srv->listen, EPOLLIN);
	if (r < 0) {
		log_error_errno(r, "epoll_ctl");
		goto fail;
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->max_clients = fd_client_limit(opt->max_clients);
	if (opt->reserved_clients >= srv->max_clients)
		log_warning("RLIMIT_NOFILE leaves no room beside the %u reserved clients",
			    opt->reserved_clients);
	srv->next_sweep_ms = event_loop_now(loop) + SWEEP_MS;
	*ret = srv;
	return 0;
fail:
	server_stop(srv);
	return r;
}

struct server *server_stop(struct server *srv)
{
	if (!srv)
		return NULL;
	while (srv->conns.head)
		connection_kill(srv->conns.head, "daemon exiting");
	connections_reap(&srv->conns);
	if (srv->listen.fd >= 0) {
		source_close(srv->loop, &srv->listen);
		unlink(srv->socket_path);
	}
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv);
	return NULL;
}
