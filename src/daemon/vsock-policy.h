/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may do what over vsock (--vsock-allow, docs/fleet.md "Trust"). A vsock peer has no pid
 * and no uid, only a CID, which the hypervisor sets and a guest cannot choose: CID 2 is the
 * host, 1 a process of this machine through vsock_loopback. So the rules are per CID, and
 * a request is checked against the peer's level, never against anything it sends. Pure
 * functions: parsing the option and looking a CID up; the listener and the server act.
 */
#ifndef SNAPSAFE_DAEMON_VSOCK_POLICY_H
#define SNAPSAFE_DAEMON_VSOCK_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

enum vsock_access {
	VSOCK_ACCESS_NONE,	/* the connection is refused */
	VSOCK_ACCESS_READ,	/* STATUS, OUTDATED, WAIT, WATCHERS, METRICS, HELLO */
	VSOCK_ACCESS_CONTROL,	/* and TRIGGER, QUIESCE, RESUME */
};

enum {
	VSOCK_POLICY_RULES_MAX	= 32,
	VSOCK_CID_LOCAL		= 1,	/* VMADDR_CID_LOCAL: this machine, through vsock_loopback */
	VSOCK_CID_HOST		= 2,	/* VMADDR_CID_HOST */
};

/* The default: the host controls, every other CID may read. */
#define VSOCK_POLICY_DEFAULT "host:control,any:read"

struct vsock_policy {
	unsigned n;
	struct {
		uint32_t cid;
		enum vsock_access access;
	} rules[VSOCK_POLICY_RULES_MAX];
	enum vsock_access other;	/* CIDs no rule names ("any:"); none unless given */
};

/*
 * vsock_policy_parse() - "RULE[,RULE...]", RULE = WHO:LEVEL, WHO a CID number, "host" (2),
 * "local" (1) or "any" (every CID no rule names), LEVEL "control", "read" or "none". A CID
 * named twice keeps its last rule. Return: 0, or -EINVAL (@ret untouched).
 */
int vsock_policy_parse(const char *spec, struct vsock_policy *ret);

/* vsock_policy_lookup() - the level of a peer with CID @cid. */
enum vsock_access vsock_policy_lookup(const struct vsock_policy *p, uint32_t cid);

/*
 * vsock_request_permitted() - may a peer with @access make a request of @type? Watchers
 * (WATCH, READ, ACK) are local processes only: a remote one would hold every WAIT up.
 */
bool vsock_request_permitted(enum vsock_access access, enum protocol_request_type type);

/* vsock_access_name() - "none", "read", "control". */
const char *vsock_access_name(enum vsock_access access);

#endif
