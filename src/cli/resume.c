/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl resume [--json]: end a cooperative snapshot: the daemon raises the generation
 * (the restored or cloned copy is a new one) and clears the quiesce. Prints the new generation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "snapsafectl.h"

int cmd_resume(int argc, char **argv)
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
	r = cli_request_value(fd, "resume", "RESUME", &gen);
	close(fd);
	if (r != CLI_EXIT_OK)
		return r;
	if (o.json)
		printf("{\"generation\":%" PRIu64 ",\"quiesced\":false}\n", gen);
	else
		printf("%" PRIu64 "\n", gen);
	return CLI_EXIT_OK;
}
