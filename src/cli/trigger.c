/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl trigger [--min-gen N] [--json]: raise the generation to max(current + 1, N),
 * as a control plane does after cloning a VM, and print the new generation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "snapsafectl.h"

int cmd_trigger(int argc, char **argv)
{
	struct cli_options o;
	char req[32];
	uint64_t gen;
	int fd, r;

	r = cli_parse(argc, argv, "min-gen", true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	snprintf(req, sizeof(req), "TRIGGER %" PRIu32, o.value);
	r = cli_request_value(fd, "trigger", req, &gen);
	close(fd);
	if (r != CLI_EXIT_OK)
		return r;
	if (o.json)
		printf("{\"generation\":%" PRIu64 "}\n", gen);
	else
		printf("%" PRIu64 "\n", gen);
	return CLI_EXIT_OK;
}
