/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-demo-client: the application side of README's demo (tools/demo). It
 * draws random bytes from libsnapsafe at a steady pace, is a registered watcher
 * of the system generation, and when the generation rises it says so, finishes
 * its "in-flight work" (a configurable delay, what a real service would spend
 * dropping sessions and cached nonces) and acknowledges. Every line it prints
 * says which path served the bytes and how often this thread has reseeded, so
 * the demo shows the engine reseeding on a raise instead of asserting it.
 *
 * It links the library's internal objects only to read those two facts
 * (rng_thread_engine_seeded(), rng_thread_reseeds()); everything else is the
 * public API a real program uses.
 *
 *   snapsafe-demo-client [--interval-ms N] [--ack-delay-ms N] [--draws N]
 *
 * Exit status: 0 after --draws draws (forever when 0), 1 on any error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "policy.h"
#include "rng.h"

enum { DRAW_BYTES = 16 };

static void hex(char out[2 * DRAW_BYTES + 1], const uint8_t *b)
{
	for (int i = 0; i < DRAW_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void draw(const char *who)
{
	uint8_t b[DRAW_BYTES];
	char text[2 * DRAW_BYTES + 1];

	snapsafe_random_buf(b, sizeof(b));
	hex(text, b);
	printf("client: %-6s gen=%-3u %s  (served by %s, reseeds so far %" PRIu64 ")\n", who,
	       snapsafe_generation(), text, rng_thread_engine_seeded() ? "userspace engine" : "kernel",
	       rng_thread_reseeds());
	fflush(stdout);
}

/* fork() copies the engine's state; the copy must never serve the parent's bytes. */
static int show_fork_safety(void)
{
	pid_t pid;
	int status;

	draw("parent");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		draw("child");
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	draw("parent");
	return 0;
}

static int on_new_generation(struct snapsafe_watcher *w, unsigned int ack_delay_ms)
{
	uint32_t gen;
	int r;

	r = snapsafe_watcher_read(w, &gen);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	printf("client: new generation %u: memory may have been duplicated; finishing in-flight "
	       "work for %u ms before acknowledging\n", gen, ack_delay_ms);
	fflush(stdout);
	draw("after");
	sleep_ms(ack_delay_ms);
	r = snapsafe_watcher_ack(w, gen);
	if (r == -EINVAL) {
		/* It rose again meanwhile: the next poll reports the newer one. */
		printf("client: generation %u is already stale, not acknowledged\n", gen);
		return 0;
	}
	if (r < 0)
		return r;
	printf("client: acknowledged generation %u\n", gen);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "ack-delay-ms", required_argument, NULL, 'a' },
		{ "draws", required_argument, NULL, 'n' },
		{}
	};
	unsigned int interval_ms = 500, ack_delay_ms = 1000, draws = 0;
	struct snapsafe_watcher *w = NULL;
	struct pollfd pfd;
	int c, r;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'i':
			interval_ms = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			ack_delay_ms = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			draws = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s [--interval-ms N] [--ack-delay-ms N] [--draws N]\n",
				argv[0]);
			return 1;
		}
	}
	if (interval_ms == 0)
		interval_ms = 1;

	r = show_fork_safety();
	if (r < 0) {
		fprintf(stderr, "client: fork: %s\n", strerror(-r));
		return 1;
	}
	r = snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w);
	if (r < 0) {
		fprintf(stderr, "client: cannot register as a watcher: %s (is snapsafed running?)\n",
			strerror(-r));
		return 1;
	}
	printf("client: registered as a watcher at generation %u\n", snapsafe_generation());
	fflush(stdout);

	pfd = (struct pollfd){ .fd = snapsafe_watcher_fd(w), .events = POLLIN };
	for (unsigned int n = 0; draws == 0 || n < draws;) {
		r = poll(&pfd, 1, (int)interval_ms);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "client: poll: %m\n");
			break;
		}
		if (r > 0 && (pfd.revents & (POLLHUP | POLLERR)) && !(pfd.revents & POLLIN)) {
			fprintf(stderr, "client: the daemon went away\n");
			r = -ECONNRESET;
			break;
		}
		if (r > 0) {
			r = on_new_generation(w, ack_delay_ms);
			if (r < 0) {
				fprintf(stderr, "client: watcher: %s\n", strerror(-r));
				break;
			}
			continue;
		}
		draw("draw");
		n++;
		r = 0;
	}
	snapsafe_watcher_close(w);
	return r < 0 ? 1 : 0;
}
