/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl wait-watchers [--timeout MS] [--json]: return once no watcher is outdated,
 * e.g. before a control plane lets a cloned VM take traffic. Quiet on success; on timeout,
 * says how many watchers are still outdated and exits CLI_EXIT_TIMEOUT.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "client.h"
#include "snapsafectl.h"

int cmd_wait_watchers(int argc, char **argv)
{
	struct cli_options o;
	uint64_t v, outdated = 0;
	char req[32];
	int fd, r;

	r = cli_parse(argc, argv, "timeout", true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	snprintf(req, sizeof(req), "WAIT %" PRIu32, o.value);
	r = client_request_value(fd, req, &v);
	if (r == -ETIMEDOUT) {
		/* Same connection: say how many the wait was for. */
		if (client_request_value(fd, "OUTDATED", &outdated) < 0)
			outdated = 0;
		close(fd);
		if (o.json)
			printf("{\"timed_out\":true,\"outdated\":%" PRIu64 "}\n", outdated);
		fprintf(stderr, "snapsafectl: wait-watchers: timed out after %" PRIu32 " ms, "
			"%" PRIu64 " watcher(s) still outdated\n", o.value, outdated);
		return CLI_EXIT_TIMEOUT;
	}
	close(fd);
	if (r < 0)
		return cli_error("wait-watchers", r);
	if (o.json)
		printf("{\"timed_out\":false,\"outdated\":0}\n");
	return CLI_EXIT_OK;
}
