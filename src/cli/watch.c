/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl watch [--count N]: register as a watcher through the public API,
 * print each new generation as it arrives (one per line, flushed) and acknowledge it; exit
 * after N generations (0 or none: run until killed). A generation that moves on between the
 * read and the acknowledgement is not lost: the next read returns the newer one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <snapsafe/snapsafe.h>

#include "snapsafectl.h"

int cmd_watch(int argc, char **argv)
{
	struct snapsafe_watcher *w = NULL;
	struct cli_options o;
	uint32_t seen = 0;
	int r;

	r = cli_parse(argc, argv, "count", &o);
	if (r >= 0)
		return r;
	r = snapsafe_watcher_open(0, &w);
	/* Refused at connect (the socket's permissions), not by a privilege check. */
	if (r == -EACCES || r == -EPERM)
		return cli_unreachable(r);
	if (r < 0)
		return cli_error("watch", r);
	for (;;) {
		uint32_t gen;

		r = snapsafe_watcher_read(w, &gen);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		if (cli_json != CLI_JSON_OFF) {
			struct json j;

			json_begin(&j);
			json_object(&j, NULL);
			json_u64(&j, "generation", gen);
			json_close(&j, '}');
			if (json_end(&j, cli_json == CLI_JSON_PRETTY) < 0) {
				r = -ENOMEM;
				break;
			}
		} else {
			printf("%" PRIu32 "\n", gen);
		}
		if (fflush(stdout) != 0) {
			r = -errno;
			snapsafe_watcher_close(w);
			/* Not acknowledged: nobody saw it. */
			return cli_fail(CLI_EXIT_FAILURE, r, "watch: cannot write to standard "
					"output: %s", strerror(-r));
		}
		r = snapsafe_watcher_ack(w, gen);
		if (r < 0 && r != -EINVAL)
			break;
		if (o.has_value && o.value > 0 && ++seen >= o.value) {
			r = 0;
			break;
		}
	}
	snapsafe_watcher_close(w);
	return r < 0 ? cli_error("watch", r) : CLI_EXIT_OK;
}
