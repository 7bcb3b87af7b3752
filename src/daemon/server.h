/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket (docs/protocol.md): accepts connections within the limits, reads
 * request lines, answers them in order, and is the last sink of the core: a raise is sent
 * to every watcher as a GEN line and ends the waits it must end. The watcher registry is
 * watchers.c; a connection's bytes are connection.c.
 */
#ifndef SNAPSAFE_DAEMON_SERVER_H
#define SNAPSAFE_DAEMON_SERVER_H

#include <stdint.h>

#include "core.h"
#include "event-loop.h"
#include "options.h"
#include "vsock-policy.h"

struct server;

/*
 * server_start() - bind and listen on @socket_path (0666: anyone may watch). Clients that
 * connect are accepted once the loop runs. Return: 0, or a negative errno (logged).
 */
int server_start(struct event_loop *loop, struct core *core, const struct options *opt,
		 const char *socket_path, struct server **ret);
/* server_stop() - close every connection and the socket, remove it; accepts NULL. */
struct server *server_stop(struct server *srv);

/*
 * server_timeout_ms() - how long the loop may sleep (-1: as long as it likes);
 * server_tick() - after each batch of events, with the batch's one @now: accept, end the
 * waits that are due, drop idle connections, free the dead.
 */
int server_timeout_ms(const struct server *srv, uint64_t now);
void server_tick(struct server *srv, uint64_t now);

/*
 * server_take_vsock() - a connection accepted on the vsock listener from CID @cid, whose
 * level is @access: admitted under the same limits as a Unix peer (the per-uid limit is
 * per CID; a CID with control may use the reserved slots), or refused with one line.
 * Takes @fd either way.
 */
void server_take_vsock(struct server *srv, int fd, uint32_t cid, enum vsock_access access);

extern const struct sink_ops server_sink;

#endif
