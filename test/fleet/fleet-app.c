// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fleet-app: the application inside the fleet test's guests (test/fleet/fleet-test.py).
 * It draws random bytes from libsnapsafe every INTERVAL_MS and is a watcher: each new
 * generation is acknowledged, unless HOLD_FILE exists, which stands for an application that
 * has not re-keyed yet (the negative control holds it). One line per event on stdout:
 *
 *   WATCHING gen=<g> mono=<ns>
 *   DRAW gen=<g> mono=<ns> bytes=<hex>     gen: the generation before the draw
 *   SEEN gen=<g> mono=<ns>
 *   ACKED gen=<g> mono=<ns>
 *   ERROR <what> <errno>
 *
 * Usage: fleet-app INTERVAL_MS HOLD_FILE. Times are CLOCK_MONOTONIC in ns; each line is one
 * write(2).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

enum { DRAW_BYTES = 16 };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
		/* Nobody to tell. */
	}
}

static void draw(void)
{
	uint8_t buf[DRAW_BYTES];
	char text[2 * DRAW_BYTES + 1];
	uint32_t gen = snapsafe_generation();

	snapsafe_random_buf(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		snprintf(text + 2 * i, 3, "%02x", buf[i]);
	emit("DRAW gen=%u mono=%" PRIu64 " bytes=%s", gen, mono_ns(), text);
}

int main(int argc, char **argv)
{
	struct snapsafe_watcher *w = NULL;
	const char *hold;
	bool pending = false;
	int interval, r;

	if (argc != 3) {
		fprintf(stderr, "usage: fleet-app INTERVAL_MS HOLD_FILE\n");
		return 2;
	}
	interval = atoi(argv[1]);
	hold = argv[2];
	while ((r = snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w)) < 0) {
		emit("ERROR watcher_open %d", -r);
		poll(NULL, 0, 200);
	}
	emit("WATCHING gen=%u mono=%" PRIu64, snapsafe_generation(), mono_ns());
	for (;;) {
		/* While an acknowledgement is held the fd stays readable: do not poll it. */
		struct pollfd p = { .fd = pending ? -1 : snapsafe_watcher_fd(w), .events = POLLIN };
		uint32_t gen;

		if (poll(&p, 1, interval) == 0)
			draw();
		if (!pending && !(p.revents & POLLIN))
			continue;
		r = snapsafe_watcher_read(w, &gen);
		if (r == -EAGAIN) {
			pending = false;
			continue;
		}
		if (r < 0) {
			emit("ERROR watcher_read %d", -r);
			poll(NULL, 0, 200);
			continue;
		}
		if (!pending)
			emit("SEEN gen=%u mono=%" PRIu64, gen, mono_ns());
		pending = access(hold, F_OK) == 0;
		if (pending)
			continue;
		/* What an application does here: re-key, then say so. */
		draw();
		r = snapsafe_watcher_ack(w, gen);
		if (r == 0)
			emit("ACKED gen=%u mono=%" PRIu64, gen, mono_ns());
		else if (r != -EINVAL)	/* EINVAL: a newer one came meanwhile; read it next */
			emit("ERROR watcher_ack %d", -r);
	}
}
