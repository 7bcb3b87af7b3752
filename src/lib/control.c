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
#include <string.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "client.h"
#include "control.h"
#include "guard.h"
#include "parse-number.h"

/*
 * A request that answers with a generation: a valid u32, and above 0 for a raise
 * (@allow_zero: QUIESCE answers the current generation, 0 on a daemon that never raised).
 */
static int64_t control_generation(const char *request, bool allow_zero)
{
	bool entered = guard_enter();
	uint64_t v;
	int r;

	r = client_call_value(request, &v);
	guard_leave_if(entered);
	if (r < 0)
		return r;
	if ((v == 0 && !allow_zero) || v > UINT32_MAX)
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
	bool entered = guard_enter();
	uint64_t v;
	int r;

	r = client_call_value("OUTDATED", &v);
	guard_leave_if(entered);
	if (r < 0)
		return r;
	return v > INT_MAX ? INT_MAX : (int)v;
}

void control_parse_pids(const char *text, size_t len, struct control_pids *ret)
{
	static const char prefix[] = "outdated watcher pids:";
	const char *end = text + len;

	memset(ret, 0, sizeof(*ret));
	if (len < sizeof(prefix) - 1 || memcmp(text, prefix, sizeof(prefix) - 1) != 0)
		return;
	text += sizeof(prefix) - 1;
	/* Each pid after one space; " ..." when the daemon could not fit them all. */
	while (text < end) {
		const char *next;
		uint64_t pid;
		int r;

		if (*text != ' ' || text + 1 >= end)
			goto bad;
		text++;
		if (end - text == 3 && memcmp(text, "...", 3) == 0) {
			ret->truncated = true;
			break;
		}
		r = parse_uint_prefix(text, (size_t)(end - text), 10, UINT32_MAX, &pid, &next);
		if (r < 0 || (next < end && *next != ' '))
			goto bad;
		if (ret->n < CONTROL_PIDS_MAX)
			ret->pid[ret->n++] = (uint32_t)pid;
		else
			ret->truncated = true;
		text = next;
	}
	ret->known = true;
	return;
bad:
	memset(ret, 0, sizeof(*ret));
}

int control_wait(int fd, uint32_t timeout_ms, struct control_pids *ret_pids)
{
	char req[32], buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int r;

	if (ret_pids)
		memset(ret_pids, 0, sizeof(*ret_pids));
	snprintf(req, sizeof(req), "WAIT %" PRIu32, timeout_ms);
	r = client_request(fd, req, buf, sizeof(buf), &l);
	/*
	 * The daemon refuses to wait for a caller's own outdated watcher: EDEADLK, and EINTR
	 * from daemons that predate it. Either way it is the same answer, and a caller that
	 * retried "interrupted" waits would retry for ever.
	 */
	if (r == -EINTR || r == -EDEADLK)
		return -EDEADLK;
	if (r == -ETIMEDOUT && ret_pids)
		control_parse_pids(l.words, l.words_len, ret_pids);
	return r;
}

/**
 * snapsafe_wait_watchers() - wait until no watcher is outdated.
 * @timeout_ms: 0 waits forever
 *
 * Return: 0, -ETIMEDOUT, or -EDEADLK when the caller (this process) holds an
 * outdated watcher, which would otherwise wait for itself.
 */
EXPORT int snapsafe_wait_watchers(unsigned int timeout_ms)
{
	bool entered = guard_enter();
	int fd, r;

	/*
	 * The daemon answers EDEADLK too, for watchers it knows under our pid. Checking here
	 * as well costs no round trip and also covers a watcher whose raise the daemon has
	 * sent but whose WAIT it has not yet read.
	 */
	if (watcher_any_outdated()) {
		r = -EDEADLK;
		goto out;
	}
	fd = client_connect(NULL);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = control_wait(fd, timeout_ms, NULL);
	close(fd);
out:
	guard_leave_if(entered);
	return r;
}

/**
 * snapsafe_trigger() - force a new generation, at least @min_gen.
 * Return: the new generation (> 0), or -EACCES for callers that are neither root,
 * nor hold CAP_CHECKPOINT_RESTORE as an ambient capability, nor are in the daemon's
 * control group.
 */
EXPORT int64_t snapsafe_trigger(uint32_t min_gen)
{
	char req[32];

	snprintf(req, sizeof(req), "TRIGGER %" PRIu32, min_gen);
	return control_generation(req, false);
}

/**
 * snapsafe_quiesce() - start the cooperative snapshot: libraries stop serving from
 * userspace state until snapsafe_resume(). Privileged like snapsafe_trigger().
 * Return: 0 or a negative errno.
 */
EXPORT int snapsafe_quiesce(void)
{
	/* The reply is the unchanged generation: 0 before a daemon's first raise is fine. */
	int64_t r = control_generation("QUIESCE", true);

	return r < 0 ? (int)r : 0;
}

/**
 * snapsafe_resume() - end the snapshot: raise the generation and clear the quiesce.
 * Return: the new generation (> 0) or a negative errno.
 */
EXPORT int64_t snapsafe_resume(void)
{
	return control_generation("RESUME", false);
}
