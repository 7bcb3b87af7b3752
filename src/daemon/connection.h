/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One client connection's bytes: the input buffer and who wrote it, the output queue, and
 * the connection's phase. Nothing here knows the protocol's requests (server.c does).
 * Everything is non-blocking. A connection that dies during an event batch is only marked
 * and unlinked; it is freed by connections_reap() after the batch, so an epoll event still
 * queued for it is harmless. Memory is bounded three ways: input is not read while output
 * is waiting for the peer (a client must read its replies before more of its requests are
 * parsed), each connection may queue PROTOCOL_OUTPUT_MAX bytes, and all of them together
 * CONNECTIONS_OUTPUT_BUDGET.
 */
#ifndef SNAPSAFE_DAEMON_CONNECTION_H
#define SNAPSAFE_DAEMON_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event-loop.h"
#include "protocol.h"
#include "vsock-policy.h"
#include "watchers.h"

enum {
	CONNECTION_IN_MAX		= 4096,		/* pipelined requests buffered */
	CONNECTIONS_OUTPUT_BUDGET	= 16 << 20,	/* queued output of all connections */
	CONNECTION_SNDBUF		= 16 << 10,	/* the kernel's share, per connection */
	CONNECTIONS_TRIM_AFTER		= 64,		/* connections freed at once: trim the heap */
};

enum connection_phase {
	CONNECTION_NEW,		/* no complete line yet: the idle timeout applies */
	CONNECTION_READY,	/* reading and answering requests */
	CONNECTION_WAITING,	/* a WAIT is pending: no further line is parsed until it ends */
	CONNECTION_CLOSING,	/* flush what is queued, then close */
	CONNECTION_DEAD,	/* closed; freed by connections_reap() */
};

struct connections;

struct connection {
	struct source src;
	struct connections *set;
	struct connection *prev, *next;
	struct connection *dead_next;

	/* The peer as the kernel saw it at connect time (SO_PEERCRED). */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/*
	 * A vsock peer (listener-vsock.c) has no pid, uid or gid (all 0 here, and never used as
	 * credentials): it is its CID, which the hypervisor sets, and the level --vsock-allow
	 * gives that CID.
	 */
	bool vsock;
	uint32_t vsock_cid;
	enum vsock_access vsock_access;

	enum connection_phase phase;
	bool input_closed;		/* the peer shut down its sending side */
	bool reparse;			/* a WAIT ended: parse the buffered lines at the next tick */
	struct watcher watcher;		/* registered by WATCH */
	uint64_t accepted_ms;
	uint64_t partial_since_ms;	/* when the unfinished line began; 0: none */
	uint64_t wait_deadline_ms;	/* WAITING: 0 is forever */

	char in[CONNECTION_IN_MAX];
	size_t in_len;
	size_t foreign_len;		/* in[0, foreign_len) holds bytes another process wrote */
	char *out;
	size_t out_off, out_len, out_cap;	/* queued bytes are out[out_off, out_len) */
	uint32_t events;		/* what epoll is asked for now */
};

struct connections {
	struct event_loop *loop;
	source_dispatch_fn *dispatch;	/* for every connection's source */
	struct watchers *watchers;	/* a connection that dies leaves it */
	struct connection *head;
	struct connection *dead;
	unsigned count;			/* the length of the head list */
	size_t out_total;		/* queued output of all connections */
};

/*
 * connection_new() - take the accepted socket @fd (non-blocking, SO_PASSCRED inherited from
 * the listener) into @set, stamped @now. Return: 0, or a negative errno (@fd is closed).
 */
int connection_new(struct connections *set, int fd, uint64_t now, struct connection **ret);

/*
 * connection_new_vsock() - the same for a vsock connection from @cid with @access: no
 * credentials to read, and its bytes are the peer's own (no SCM_CREDENTIALS on vsock).
 */
int connection_new_vsock(struct connections *set, int fd, uint64_t now, uint32_t cid,
			 enum vsock_access access, struct connection **ret);

/* connection_kill() - close at once (logged at debug level with @why); idempotent. */
void connection_kill(struct connection *c, const char *why);

/* connection_close_after_output() - no more input; close once the queue is sent. */
void connection_close_after_output(struct connection *c);

/* connection_queue() - append to the output and try to send; kills a peer over its limits. */
void connection_queue(struct connection *c, const char *buf, size_t len);

/* connection_flush() - send what the peer takes now. */
void connection_flush(struct connection *c);

static inline bool connection_output_pending(const struct connection *c)
{
	return c->out_len > c->out_off;
}

/*
 * connection_read() - receive what is there (up to the buffer), noting bytes that a
 * process other than the peer wrote (SCM_CREDENTIALS). Return: 0, or -errno (killed).
 */
int connection_read(struct connection *c);

/*
 * connection_line() - the first complete line in the input (without '\n').
 * @ret_foreign: whether any byte of it was written by another process than the peer
 * Return: its length, -EAGAIN when no complete line is buffered.
 * connection_consume() - drop that line (and its '\n') from the input.
 */
ssize_t connection_line(struct connection *c, bool *ret_foreign);
void connection_consume(struct connection *c, size_t len);

/* connection_update_events() - ask epoll for what the phase and the queues allow. */
void connection_update_events(struct connection *c);

/* connections_reap() - free the connections killed since the last call. */
void connections_reap(struct connections *set);

#endif
