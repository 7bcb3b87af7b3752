/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl outdated [--json]: how many watchers that existed at the last raise have not
 * acknowledged it yet.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "snapsafectl.h"

int cmd_outdated(int argc, char **argv)
{
	struct cli_options o;
	uint64_t n;
	int fd, r;

	r = cli_parse(argc, argv, NULL, true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = cli_request_value(fd, "outdated", "OUTDATED", &n);
	close(fd);
	if (r != CLI_EXIT_OK)
		return r;
	if (o.json)
		printf("{\"outdated\":%" PRIu64 "}\n", n);
	else
		printf("%" PRIu64 "\n", n);
	return CLI_EXIT_OK;
}
