/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control half of the generation API: outdated-watcher count, waiting for watchers,
 * trigger, quiesce and resume. Each call is one connection and one request
 * (docs/protocol.md); the daemon checks privileges from the kernel's peer credentials, so
 * nothing here claims any. Reading the generation itself needs no socket: generation.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <snapsafe/snapsafe.h>

#include "client.h"

/* The shared library is built -fvisibility=hidden; libsnapsafe.sym lists what it exports. */
#define EXPORT __attribute__((visibility("default")))

/* A request that answers with a generation: it must be a valid u32 above 0. */
static int64_t control_generation(const char *request)
{
	uint64_t v;
	int r;

	r = client_call_value(request, &v);
	if (r < 0)
		return r;
	if (v == 0 || v > UINT32_MAX)
		return -EPROTO;
	return (int64_t)v;
}

/**
 * snapsafe_outdated_watchers() - how many watchers existing at the last raise
 * have not acknowledged it.
 * Return: the count (>= 0) or a negative errno.
 */
EXPORT int snapsafe_outdated_watchers(void)
{
	uint64_t v;
	int r;

	r = client_call_value("OUTDATED", &v);
	if (r < 0)
		return r;
	return v > INT_MAX ? INT_MAX : (int)v;
}

/**
 * snapsafe_wait_watchers() - wait until no watcher is outdated.
 * @timeout_ms: 0 waits forever
 *
 * Return: 0, -ETIMEDOUT, or -EINTR when the caller (this process) holds an
 * outdated watcher, which would otherwise wait for itself.
 */
EXPORT int snapsafe_wait_watchers(unsigned int timeout_ms)
{
	char req[32];
	uint64_t v;

	/*
	 * The daemon answers EINTR too, for watchers it knows under our pid. Checking here
	 * as well costs no round trip and also covers a watcher whose raise the daemon has
	 * sent but whose WAIT it has not yet read.
	 */
	if (watcher_any_outdated())
		return -EINTR;
	snprintf(req, sizeof(req), "WAIT %u", timeout_ms);
	return client_call_value(req, &v);
}

/**
 * snapsafe_trigger() - force a new generation, at least @min_gen.
 * Return: the new generation (> 0), or -EACCES for callers that are neither root,
 * nor hold CAP_CHECKPOINT_RESTORE, nor are in the daemon's control group.
 */
EXPORT int64_t snapsafe_trigger(uint32_t min_gen)
{
	char req[32];

	snprintf(req, sizeof(req), "TRIGGER %" PRIu32, min_gen);
	return control_generation(req);
}

/**
 * snapsafe_quiesce() - start the cooperative snapshot: libraries stop serving from
 * userspace state until snapsafe_resume(). Privileged like snapsafe_trigger().
 * Return: 0 or a negative errno.
 */
EXPORT int snapsafe_quiesce(void)
{
	int64_t r = control_generation("QUIESCE");

	return r < 0 ? (int)r : 0;
}

/**
 * snapsafe_resume() - end the snapshot: raise the generation and clear the quiesce.
 * Return: the new generation (> 0) or a negative errno.
 */
EXPORT int64_t snapsafe_resume(void)
{
	return control_generation("RESUME");
}
