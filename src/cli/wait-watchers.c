/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl wait-watchers [--timeout MS]: return once no watcher is outdated, e.g. before
 * a control plane lets a cloned VM take traffic. Without --timeout it waits for ever;
 * --timeout 0 checks once. Quiet on success; otherwise it says how many watchers are still
 * outdated and, when the daemon names them, their pids, and exits CLI_EXIT_TIMEOUT.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "client.h"
#include "control.h"
#include "snapsafectl.h"

/*
 * `WAIT 0` means "for ever" to the daemon, so a check that must not wait asks for the
 * shortest wait it can: the reply comes at once and, when watchers are outdated, it is
 * the timeout reply that names them.
 */
enum { WAIT_CHECK_ONCE_MS = 1 };

/* " 1234 5678" (and " ..." when the daemon could not list them all), for people. */
static void format_pids(char *buf, size_t size, const struct control_pids *p)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < p->n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, " %" PRIu32, p->pid[i]);
	if (p->truncated && off < size)
		snprintf(buf + off, size - off, " ...");
}

static int wait_timed_out(int fd, const struct cli_options *o, const struct control_pids *pids)
{
	char list[CONTROL_PIDS_MAX * 11 + 8], what[64], why[CONTROL_PIDS_MAX * 11 + 160];
	uint64_t outdated = 0;
	struct json j;

	/* Same connection: say how many the wait was for. */
	if (client_request_value(fd, "OUTDATED", &outdated) < 0)
		outdated = 0;
	if (o->has_value && o->value == 0)
		snprintf(what, sizeof(what), "not waiting (--timeout 0)");
	else
		snprintf(what, sizeof(what), "timed out after %" PRIu32 " ms", o->value);
	format_pids(list, sizeof(list), pids);
	snprintf(why, sizeof(why), "wait-watchers: %s, %" PRIu64 " watcher(s) still outdated%s%s%s",
		 what, outdated, pids->known && (pids->n > 0 || pids->truncated) ? " (pids" : "",
		 pids->known ? list : "", pids->known && (pids->n > 0 || pids->truncated) ? ")" : "");

	json_begin(&j);
	json_object(&j, NULL);
	json_bool(&j, "timed_out", true);
	json_u64(&j, "outdated", outdated);
	/* Only what the daemon said: one that names no pids gets no list. */
	if (pids->known) {
		json_array(&j, "outdated_pids");
		for (unsigned int i = 0; i < pids->n; i++)
			json_u64(&j, NULL, pids->pid[i]);
		json_close(&j, ']');
		json_bool(&j, "outdated_pids_truncated", pids->truncated);
	}
	return cli_fail_json(&j, CLI_EXIT_TIMEOUT, -ETIMEDOUT, "%s", why);
}

int cmd_wait_watchers(int argc, char **argv)
{
	struct control_pids pids;
	struct cli_options o;
	uint32_t timeout_ms;
	struct json j;
	int fd, r;

	r = cli_parse(argc, argv, "timeout", &o);
	if (r >= 0)
		return r;
	timeout_ms = !o.has_value ? 0 : o.value == 0 ? WAIT_CHECK_ONCE_MS : o.value;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = control_wait(fd, timeout_ms, &pids);
	if (r == -ETIMEDOUT) {
		r = wait_timed_out(fd, &o, &pids);
		close(fd);
		return r;
	}
	close(fd);
	if (r < 0)
		return cli_error("wait-watchers", r);
	if (cli_json == CLI_JSON_OFF)
		return CLI_EXIT_OK;
	json_begin(&j);
	json_object(&j, NULL);
	json_bool(&j, "timed_out", false);
	json_u64(&j, "outdated", 0);
	json_array(&j, "outdated_pids");
	json_close(&j, ']');
	json_bool(&j, "outdated_pids_truncated", false);
	json_close(&j, '}');
	return cli_json_end(&j);
}
