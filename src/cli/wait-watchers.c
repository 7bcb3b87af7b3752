/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl wait-watchers [--timeout MS] [--json]: return once no watcher is outdated,
 * e.g. before a control plane lets a cloned VM take traffic. Quiet on success; on timeout,
 * says how many watchers are still outdated and, when the daemon names them, their pids,
 * and exits CLI_EXIT_TIMEOUT.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "client.h"
#include "control.h"
#include "snapsafectl.h"

/* " 1234 5678" (and " ..." when the daemon could not list them all), for people. */
static void print_pids(FILE *f, const struct control_pids *p)
{
	for (unsigned int i = 0; i < p->n; i++)
		fprintf(f, " %" PRIu32, p->pid[i]);
	if (p->truncated)
		fprintf(f, " ...");
}

/* ,"outdated_pids":[1234,5678],"outdated_pids_truncated":false */
static void print_pids_json(const struct control_pids *p)
{
	printf(",\"outdated_pids\":[");
	for (unsigned int i = 0; i < p->n; i++)
		printf("%s%" PRIu32, i ? "," : "", p->pid[i]);
	printf("],\"outdated_pids_truncated\":%s", p->truncated ? "true" : "false");
}

int cmd_wait_watchers(int argc, char **argv)
{
	struct control_pids pids;
	struct cli_options o;
	uint64_t outdated = 0;
	int fd, r;

	r = cli_parse(argc, argv, "timeout", true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = control_wait(fd, o.value, &pids);
	if (r == -ETIMEDOUT) {
		/* Same connection: say how many the wait was for. */
		if (client_request_value(fd, "OUTDATED", &outdated) < 0)
			outdated = 0;
		close(fd);
		if (o.json) {
			printf("{\"timed_out\":true,\"outdated\":%" PRIu64, outdated);
			/* Only what the daemon said: one that names no pids gets no list. */
			if (pids.known)
				print_pids_json(&pids);
			printf("}\n");
		}
		fprintf(stderr, "snapsafectl: wait-watchers: timed out after %" PRIu32 " ms, "
			"%" PRIu64 " watcher(s) still outdated", o.value, outdated);
		if (pids.known && (pids.n > 0 || pids.truncated)) {
			fprintf(stderr, " (pids");
			print_pids(stderr, &pids);
			fprintf(stderr, ")");
		}
		fprintf(stderr, "\n");
		return CLI_EXIT_TIMEOUT;
	}
	close(fd);
	if (r < 0)
		return cli_error("wait-watchers", r);
	if (o.json)
		printf("{\"timed_out\":false,\"outdated\":0,\"outdated_pids\":[],"
		       "\"outdated_pids_truncated\":false}\n");
	return CLI_EXIT_OK;
}
