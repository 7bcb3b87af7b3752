/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl quiesce [--json]: start a cooperative snapshot. Libraries stop serving random
 * bytes from userspace state until `resume`. Prints the (unchanged) generation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "snapsafectl.h"

int cmd_quiesce(int argc, char **argv)
{
	struct cli_options o;
	uint64_t gen;
	int fd, r;

	r = cli_parse(argc, argv, NULL, true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = cli_request_value(fd, "quiesce", "QUIESCE", &gen);
	close(fd);
	if (r != CLI_EXIT_OK)
		return r;
	if (o.json)
		printf("{\"generation\":%" PRIu64 ",\"quiesced\":true}\n", gen);
	else
		printf("%" PRIu64 "\n", gen);
	return CLI_EXIT_OK;
}
