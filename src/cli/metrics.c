/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl metrics: the daemon's counters (METRICS) and its generation (STATUS), asked on
 * one connection, in the Prometheus text exposition format (version 0.0.4: # HELP and # TYPE
 * before each family), for node_exporter's textfile collector or a scrape wrapper; with
 * --json one object. Counters count since the daemon started. Every notifier gets its
 * series, zeros included, so that a rate over a series that first appears is never lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"
#include "snapsafectl.h"

static void metric(const char *name, const char *type, const char *help, uint64_t value)
{
	printf("# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
	       value);
}

/* A counter per notifier, from @first: no raise ever has notifier 0 ("none"). */
static void metric_notifiers(const char *name, const char *help, const uint64_t *counts,
			     unsigned first)
{
	printf("# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (unsigned i = first; i < _SNAPSAFE_NOTIFIER_MAX; i++)
		printf("%s{notifier=\"%s\"} %" PRIu64 "\n", name, protocol_notifier_name(i),
		       counts[i]);
}

static void metrics_print_text(const struct protocol_metrics *m, uint32_t generation)
{
	metric("snapsafe_generation", "gauge", "The system generation.", generation);
	metric("snapsafe_clients", "gauge", "Connections to snapsafed now.", m->clients);
	metric("snapsafe_connections_accepted_total", "counter",
	       "Connections snapsafed accepted.", m->accepted);
	metric("snapsafe_connections_refused_total", "counter",
	       "Connections refused at the connection limits.", m->refused_clients);
	metric("snapsafe_requests_refused_total", "counter",
	       "Privileged requests refused.", m->refused_requests);
	metric("snapsafe_watchers", "gauge", "Registered watchers.", m->watchers);
	metric("snapsafe_watchers_outdated", "gauge",
	       "Watchers that have not acknowledged the last raise.", m->outdated);
	metric_notifiers("snapsafe_raises_total", "Generation raises, by notifier.", m->raises,
			 SNAPSAFE_NOTIFIER_NONE + 1);
	metric_notifiers("snapsafe_epochs_total",
			 "Epoch changes (each raise is one too), by notifier.", m->epochs,
			 SNAPSAFE_NOTIFIER_NONE);
}

static void json_notifiers(struct json *j, const char *key, const uint64_t *counts,
			   unsigned first)
{
	json_object(j, key);
	for (unsigned i = first; i < _SNAPSAFE_NOTIFIER_MAX; i++)
		json_u64(j, protocol_notifier_name(i), counts[i]);
	json_close(j, '}');
}

static int metrics_print_json(const struct protocol_metrics *m, uint32_t generation)
{
	struct json j;

	json_begin(&j);
	json_object(&j, NULL);
	json_u64(&j, "generation", generation);
	json_u64(&j, "clients", m->clients);
	json_u64(&j, "connections_accepted", m->accepted);
	json_u64(&j, "connections_refused", m->refused_clients);
	json_u64(&j, "requests_refused", m->refused_requests);
	json_u64(&j, "watchers", m->watchers);
	json_u64(&j, "watchers_outdated", m->outdated);
	json_notifiers(&j, "raises", m->raises, SNAPSAFE_NOTIFIER_NONE + 1);
	json_notifiers(&j, "epochs", m->epochs, SNAPSAFE_NOTIFIER_NONE);
	json_close(&j, '}');
	return cli_json_end(&j);
}

int cmd_metrics(int argc, char **argv)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_metrics m;
	struct protocol_status s;
	struct protocol_line l = {};
	struct cli_options o;
	int fd, r;

	r = cli_parse(argc, argv, NULL, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = client_request(fd, "METRICS", buf, sizeof(buf), &l);
	if (r < 0) {
		int code = cli_too_old("metrics", "METRICS", r, l.words, l.words_len);

		close(fd);
		return code >= 0 ? code : cli_error("metrics", r);
	}
	r = protocol_metrics_parse(l.words, l.words_len, &m);
	if (r == 0)
		r = client_request(fd, "STATUS", buf, sizeof(buf), &l);
	if (r == 0)
		r = protocol_status_parse(l.words, l.words_len, &s);
	close(fd);
	if (r < 0)
		return cli_error("metrics", r);
	if (cli_json != CLI_JSON_OFF)
		return metrics_print_json(&m, s.generation);
	metrics_print_text(&m, s.generation);
	return CLI_EXIT_OK;
}
