/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process that the CRIU tests checkpoint and restore (test/criu/criu-test.py runs it as
 * pid 1 of its own pid namespace). It draws 32-byte outputs from libsnapsafe for ever and
 * writes one line per draw to stdout, a pipe that the test replaces in every restored clone.
 *
 * A draw is made only once poll() says the pipe has room for its line, and written at once,
 * so a process that the test finds asleep in poll() holds no drawn but unwritten output: a
 * checkpoint taken then cannot make a clone print a draw that was made before the dump.
 *
 *   criu-draw draw     "D <index> <reseeds> <engine> <generation> <64 hex digits>" per draw
 *   criu-draw watch    also a watcher: when it sees a new generation it prints
 *                      "W <generation>", then waits for a line on stdin before it acks
 *                      ("A <generation>")
 * <engine> is 1 when the draw came from this thread's engine (rng_thread_engine_seeded()),
 * <reseeds> how often the thread's engine was seeded (rng_thread_reseeds()). The first line is
 * "M <memory kind>" (state.c). Exits when stdout goes away.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "rng.h"
#include "state.h"

enum { OUT_SIZE = 32 };

static int write_all(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int say(const char *line)
{
	return write_all(line, strlen(line));
}

/* One draw, its line written; 0, or -1 once stdout is gone. */
static int draw(unsigned long long index)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t out[OUT_SIZE];
	char line[160];
	int n;

	snapsafe_random_buf(out, sizeof(out));
	n = snprintf(line, sizeof(line), "D %llu %llu %d %u ", index,
		     (unsigned long long)rng_thread_reseeds(), rng_thread_engine_seeded() ? 1 : 0,
		     snapsafe_generation());
	for (size_t i = 0; i < sizeof(out); i++) {
		line[n++] = hex[out[i] >> 4];
		line[n++] = hex[out[i] & 15];
	}
	line[n++] = '\n';
	return write_all(line, (size_t)n);
}

/* The watcher saw @gen: say so, wait for the test's go (a line on stdin), acknowledge. */
static int acknowledge(struct snapsafe_watcher *w, uint32_t gen)
{
	char line[64], c;

	snprintf(line, sizeof(line), "W %u\n", gen);
	if (say(line) < 0)
		return -1;
	do {
		if (read(STDIN_FILENO, &c, 1) != 1)
			return -1;
	} while (c != '\n');
	if (snapsafe_watcher_ack(w, gen) < 0)
		return -1;
	snprintf(line, sizeof(line), "A %u\n", gen);
	return say(line);
}

int main(int argc, char **argv)
{
	struct snapsafe_watcher *w = NULL;
	unsigned long long index = 0;
	char line[64];
	bool watch = argc == 2 && strcmp(argv[1], "watch") == 0;

	if (argc != 2 || (!watch && strcmp(argv[1], "draw") != 0)) {
		fprintf(stderr, "usage: criu-draw draw|watch\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (watch && snapsafe_watcher_open(0, &w) < 0) {
		say("E watcher_open failed\n");
		return 1;
	}
	snprintf(line, sizeof(line), "M %s\n", state_memory_name(state_pool_memory()));
	if (say(line) < 0)
		return 1;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = STDOUT_FILENO, .events = POLLOUT },
			{ .fd = w ? snapsafe_watcher_fd(w) : -1, .events = POLLIN },
		};
		uint32_t gen;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents & (POLLERR | POLLHUP))
			return 0;
		if (p[1].revents) {
			if (snapsafe_watcher_read(w, &gen) < 0 || acknowledge(w, gen) < 0)
				return 1;
			continue;
		}
		if ((p[0].revents & POLLOUT) && draw(index++) < 0)
			return 0;
	}
}
