/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl status [--json]: the daemon's STATUS line, as a table for people or one JSON
 * object for control planes. Only the socket is asked, not the page, so the answer is the
 * daemon's own view even when the page of another runtime directory is mapped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"
#include "snapsafectl.h"

static void status_time(char *buf, size_t size, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (ns == 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "never");
		return;
	}
	snprintf(buf + strlen(buf), size - strlen(buf), ".%03u UTC",
		 (unsigned)(ns % 1000000000u / 1000000u));
}

static const char *status_notifier(unsigned id)
{
	const char *n = protocol_notifier_name(id);

	return n ? n : "unknown";
}

static void status_print_json(const struct protocol_status *s)
{
	bool first = true;

	printf("{\"version\":%" PRIu32 ",\"generation\":%" PRIu32 ",\"epoch\":%" PRIu32
	       ",\"epoch_hex\":\"0x%08" PRIx32 "\",\"epoch_notifier\":\"%s\",\"watchers\":%" PRIu64
	       ",\"outdated\":%" PRIu64 ",\"quiesced\":%s,\"last_raise_ns\":%" PRIu64
	       ",\"notifiers\":{",
	       s->version, s->generation, s->epoch, s->epoch, status_notifier(s->epoch_notifier),
	       s->watchers, s->outdated, s->quiesced ? "true" : "false", s->last_raise_ns);
	for (unsigned i = 0; i < 64; i++) {
		if (!((s->notifiers_known >> i) & 1))
			continue;
		printf("%s\"%s\":%s", first ? "" : ",", status_notifier(i),
		       (s->notifiers_live >> i) & 1 ? "true" : "false");
		first = false;
	}
	printf("}}\n");
}

static void status_print_table(const struct protocol_status *s)
{
	char when[64] = "";

	status_time(when, sizeof(when), s->last_raise_ns);
	printf("generation:  %" PRIu32 "\n"
	       "epoch:       0x%08" PRIx32 " (%s)\n"
	       "watchers:    %" PRIu64 "\n"
	       "outdated:    %" PRIu64 "\n"
	       "quiesced:    %s\n"
	       "last raise:  %s\n"
	       "notifiers:\n",
	       s->generation, s->epoch, status_notifier(s->epoch_notifier), s->watchers,
	       s->outdated, s->quiesced ? "yes" : "no", when);
	for (unsigned i = 0; i < 64; i++)
		if ((s->notifiers_known >> i) & 1)
			printf("  %-12s %s\n", status_notifier(i),
			       (s->notifiers_live >> i) & 1 ? "live" : "off");
}

int cmd_status(int argc, char **argv)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_status s;
	struct protocol_line l;
	struct cli_options o;
	int fd, r;

	r = cli_parse(argc, argv, NULL, true, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = client_request(fd, "STATUS", buf, sizeof(buf), &l);
	close(fd);
	if (r < 0)
		return cli_error("status", r);
	r = protocol_status_parse(l.words, l.words_len, &s);
	if (r < 0)
		return cli_error("status", r);
	if (o.json)
		status_print_json(&s);
	else
		status_print_table(&s);
	return CLI_EXIT_OK;
}
