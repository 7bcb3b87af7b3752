/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol on vsock (--vsock-port): a second listening socket beside the Unix
 * one, for a host's control plane that drives its guests (docs/fleet.md). It only accepts
 * and decides by the peer's CID (vsock-policy.h); the connections then belong to the server,
 * under the same limits and with the same requests, less what the CID's level forbids.
 */
#ifndef SNAPSAFE_DAEMON_LISTENER_VSOCK_H
#define SNAPSAFE_DAEMON_LISTENER_VSOCK_H

#include "event-loop.h"
#include "options.h"
#include "server.h"

struct listener_vsock;

/*
 * listener_vsock_start() - listen on VMADDR_CID_ANY, port opt->vsock_port.
 * Return: 0, or a negative errno, logged with what it means (-EAFNOSUPPORT: this kernel
 * has no vsock; -EADDRINUSE: another listener has the port).
 */
int listener_vsock_start(struct event_loop *loop, struct server *srv, const struct options *opt,
			 struct listener_vsock **ret);

/* listener_vsock_stop() - close the socket (the server closes the connections); accepts NULL. */
struct listener_vsock *listener_vsock_stop(struct listener_vsock *l);

#endif
