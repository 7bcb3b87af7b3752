/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One request to many daemons at once (docs/fleet.md): every target gets its own connection,
 * all driven by one poll() loop, so a hundred guests cost about one round trip, not a
 * hundred. A target that cannot be reached yet (a guest whose vsock device was just plugged
 * in again resets the first connections) is tried again with a growing pause until the
 * deadline; an ERR reply is the daemon's answer and final. Bytes only: what the request
 * means and how results are printed is fleet-command.c.
 */
#ifndef SNAPSAFE_CLI_FLEET_H
#define SNAPSAFE_CLI_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"
#include "target.h"

enum {
	FLEET_DEADLINE_DEFAULT_MS	= 30000,
	FLEET_PARALLEL_DEFAULT		= 256,
	FLEET_ATTEMPT_MS		= 3000,	/* one connect and handshake, before a retry */
	FLEET_RETRY_FIRST_MS		= 20,	/* the pause after a first failure; doubles */
	FLEET_RETRY_MAX_MS		= 500,
};

struct fleet_result {
	bool replied;			/* a reply line came: @reply holds it */
	char reply[PROTOCOL_REPLY_MAX];
	int error;			/* no reply: the last failure (negative errno) */
	char failed_at[32];		/* no reply: the step that failed last ("connect", ...) */
	uint64_t ms;			/* from the start to the reply, or to giving up */
	unsigned attempts;		/* connections tried */
};

struct fleet_params {
	const char *request;		/* one line, without its '\n' */
	uint64_t deadline_ms;		/* targets are tried this long from the start */
	uint64_t reply_ms;		/* a reply may take this long once the request is sent;
					 * 0: until the deadline (WAIT without a timeout) */
	unsigned parallel;		/* connections open at most at once */
};

typedef void fleet_done_fn(const struct target *t, const struct fleet_result *r, void *userdata);

/*
 * fleet_run() - send the request to each of @n targets and wait for its reply.
 * @done: called once per target, when it replied or was given up, in that order
 * Return: 0, or a negative errno (-ENOMEM; poll() failed).
 */
int fleet_run(const struct target *targets, size_t n, const struct fleet_params *fp,
	      fleet_done_fn *done, void *userdata);

#endif
