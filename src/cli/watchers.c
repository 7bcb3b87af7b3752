/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl watchers: who is registered as a watcher, and who has not acknowledged the
 * last raise and for how long: what an operator looks at when wait-watchers times out.
 * Pages through `WATCHERS <start>` on one connection (a reply holds at most 16), then prints
 * the outdated ones first, longest outdated first, then the others by pid; for --json one
 * array. Watchers that come or go between pages may be missed or listed twice: a snapshot
 * of a registry that keeps changing, not a transaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"
#include "snapsafectl.h"

enum {
	/* More than the daemon's --max-clients allows; a bound on what a reply can make us hold. */
	WATCHERS_MAX = 1 << 20,
};

struct watcher_list {
	struct protocol_watcher *w;
	size_t n, size;
};

static int watchers_append(struct watcher_list *l, const struct protocol_watchers *page)
{
	if (page->count == 0)
		return 0;
	if (l->n + page->count > WATCHERS_MAX)
		return -E2BIG;
	if (l->n + page->count > l->size) {
		size_t size = l->size ? l->size * 2 : 64;
		struct protocol_watcher *w = realloc(l->w, size * sizeof(*w));

		if (!w)
			return -ENOMEM;
		l->w = w;
		l->size = size;
	}
	memcpy(l->w + l->n, page->w, page->count * sizeof(page->w[0]));
	l->n += page->count;
	return 0;
}

/* Outdated first, the longest outdated first; then by pid. */
static int watcher_compare(const void *a, const void *b)
{
	const struct protocol_watcher *x = a, *y = b;

	if (x->outdated_ms != y->outdated_ms)
		return x->outdated_ms > y->outdated_ms ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return 0;
}

/*
 * All pages, into @l. Return: 0, or a negative errno; then @ret_exit is the exit code if the
 * failure was reported already (a daemon too old to know WATCHERS), else left alone.
 */
static int watchers_fetch(int fd, struct watcher_list *l, int *ret_exit)
{
	char buf[PROTOCOL_REPLY_MAX], req[32];
	struct protocol_watchers page;
	struct protocol_line line = {};
	uint64_t start = 0;
	int r;

	for (;;) {
		snprintf(req, sizeof(req), "WATCHERS %" PRIu64, start);
		r = client_request(fd, req, buf, sizeof(buf), &line);
		if (r < 0) {
			*ret_exit = cli_too_old("watchers", "WATCHERS", r, line.words, line.words_len);
			return r;
		}
		r = protocol_watchers_parse(line.words, line.words_len, &page);
		if (r < 0)
			return r;
		r = watchers_append(l, &page);
		if (r < 0)
			return r;
		if (page.next >= page.total)
			return 0;
		/* A page that does not move on, or a start the request cannot carry. */
		if (page.next <= start || page.next > UINT32_MAX)
			return -EPROTO;
		start = page.next;
	}
}

static int watchers_print_json(const struct watcher_list *l)
{
	struct json j;

	json_begin(&j);
	json_array(&j, NULL);
	for (size_t i = 0; i < l->n; i++) {
		const struct protocol_watcher *w = &l->w[i];

		json_object(&j, NULL);
		json_u64(&j, "pid", w->pid);
		json_u64(&j, "uid", w->uid);
		json_string(&j, "comm", w->comm);
		json_u64(&j, "acked", w->acked);
		json_bool(&j, "outdated", w->outdated_ms > 0);
		json_u64(&j, "outdated_ms", w->outdated_ms);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	return cli_json_end(&j);
}

static void watchers_print_table(const struct watcher_list *l)
{
	size_t outdated = 0;

	if (l->n == 0) {
		printf("no watchers\n");
		return;
	}
	printf("%-10s %-10s %-16s %-11s %s\n", "PID", "UID", "COMM", "ACKED", "OUTDATED FOR");
	for (size_t i = 0; i < l->n; i++) {
		const struct protocol_watcher *w = &l->w[i];
		char since[64] = "-";

		if (w->outdated_ms > 0) {
			cli_duration(since, sizeof(since), w->outdated_ms);
			outdated++;
		}
		printf("%-10" PRIu32 " %-10" PRIu32 " %-16s %-11" PRIu32 " %s\n", w->pid, w->uid,
		       w->comm, w->acked, since);
	}
	printf("\n%zu watcher(s), %zu outdated\n", l->n, outdated);
}

int cmd_watchers(int argc, char **argv)
{
	struct watcher_list l = {};
	struct cli_options o;
	int fd, r, code = -1;

	r = cli_parse(argc, argv, NULL, &o);
	if (r >= 0)
		return r;
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = watchers_fetch(fd, &l, &code);
	close(fd);
	if (r < 0) {
		free(l.w);
		return code >= 0 ? code : cli_error("watchers", r);
	}
	if (l.n > 1)
		qsort(l.w, l.n, sizeof(l.w[0]), watcher_compare);
	if (cli_json != CLI_JSON_OFF)
		r = watchers_print_json(&l);
	else
		watchers_print_table(&l);
	free(l.w);
	return r;
}
