// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vmclock-client: the program in the vmclock suite's guest (docs/vm-clones.md).
 *
 * Draws in a tight loop, no sleep: per round 32 bytes from libsnapsafe's engine and 32 bytes
 * from the kernel's getrandom() (the control), with VMClock's disruption_marker read before
 * and after, and for the engine draw the path that served it. While the marker stays as it
 * was, the last RING rounds are kept in memory only. When a round finds the marker changed
 * (the guest was restored: a clone), the client writes to FILE-<n> (n counts the changes
 * this process saw): the kept rounds (PRE: drawn before the snapshot), the round during which
 * it changed, if any (MID), and the next COUNT rounds (POST), then says RECORDED on stdout
 * and goes back to keeping rounds, ready for the next snapshot (a clone of a clone).
 *
 *   START kind=<hw|nohw> hwrng=<0|1> reseed=<vdso|syscall> marker=<m> poll=<revents> pid=<pid>
 *   LOOPING kind=<kind> marker=<m>     the engine served a round: snapshot now
 *   RECORDED kind=<kind> n=<n> marker=<m> file=<path> rounds=<count>
 *   ERROR <what> <errno name>
 *
 * poll= is what poll() on the device answers at once (snapsafed's vmclock notifier polls
 * it only when the page's flag bit 9 says it notifies; else it reads the page on a timer).
 *
 * and in the file, one round per line:
 *
 *   <PRE|MID|POST> seq=<n> mb=<marker before> ma=<marker after> e=<0|1> rs=<reseeds>
 *       hw=<hw-mixed reseeds> mono=<ns> eng=<hex> krn=<hex>
 *
 * e=1: the engine served the draw (this thread's state was seeded afterwards and the draw
 * reseeded it or moved its position; a draw the kernel served leaves it alone or wiped). rs
 * and hw count this thread's reseeds and those that mixed a hardware input (rng.h), so the
 * host sees which draw was the first from a fresh seed. Built twice: with the library (kind
 * hw) and with its test-only variant without the hardware input and without the VMClock
 * hold (kind nohw), the negative control.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "hwrng.h"
#include "kernel-random.h"
#include "rng.h"
#include "vmclock.h"

enum {
	DRAW_BYTES	= 32,
	RING		= 16,
};

struct round {
	uint64_t seq, marker_before, marker_after, reseeds, hw_mixed, mono;
	bool engine;
	uint8_t eng[DRAW_BYTES], krn[DRAW_BYTES];
};

static const struct vmclock_map *vmclock;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t marker(void)
{
	struct vmclock_reading r;

	if (vmclock_read(vmclock, &r) < 0) {
		printf("ERROR vmclock_read busy\n");
		exit(1);
	}
	return r.marker;
}

/* The position of this thread's engine in its batch: a draw it serves always moves it. */
static uint32_t engine_pos(void)
{
	struct rng_state *s = rng_current_state();

	return s ? s->pos : 0;
}

/* poll()'s answer for the device, without waiting; -1 when it cannot be asked. */
static int poll_device(void)
{
	struct pollfd p = { .events = POLLIN };
	int n;

	p.fd = open("/dev/vmclock0", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (p.fd < 0)
		return -1;
	n = poll(&p, 1, 0);
	close(p.fd);
	return n < 0 ? -1 : p.revents;
}

static void draw(struct round *r, uint64_t seq)
{
	uint64_t rs0 = rng_thread_reseeds();
	uint32_t pos0 = engine_pos();

	r->seq = seq;
	r->marker_before = marker();
	snapsafe_random_buf(r->eng, sizeof(r->eng));
	r->engine = rng_thread_engine_seeded() &&
		    (rng_thread_reseeds() != rs0 || engine_pos() != pos0);
	r->reseeds = rng_thread_reseeds();
	r->hw_mixed = rng_thread_hw_mixed_reseeds();
	if (getrandom(r->krn, sizeof(r->krn), 0) != (ssize_t)sizeof(r->krn)) {
		printf("ERROR getrandom %s\n", strerrorname_np(errno) ?: "?");
		exit(1);
	}
	r->mono = now_ns();
	r->marker_after = marker();
}

static void put_hex(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static void put_round(FILE *f, const char *tag, const struct round *r)
{
	fprintf(f, "%s seq=%" PRIu64 " mb=%" PRIu64 " ma=%" PRIu64 " e=%d rs=%" PRIu64
		" hw=%" PRIu64 " mono=%" PRIu64 " eng=", tag, r->seq, r->marker_before,
		r->marker_after, r->engine, r->reseeds, r->hw_mixed, r->mono);
	put_hex(f, r->eng, sizeof(r->eng));
	fputs(" krn=", f);
	put_hex(f, r->krn, sizeof(r->krn));
	fputc('\n', f);
}

int main(int argc, char **argv)
{
	static struct round ring[RING];
	struct vmclock_map *m;
	unsigned long count;
	uint64_t seq = 0, known, kept = 0;
	unsigned int changes = 0;
	bool looping = false;
	int e;

	if (argc != 4) {
		fprintf(stderr, "usage: vmclock-client hw|nohw COUNT FILE\n");
		return 2;
	}
	count = strtoul(argv[2], NULL, 10);
	/* A line at a time, each in one write: whole on the console beside other programs'. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	e = vmclock_open("/dev/vmclock0", &m);
	if (e < 0) {
		printf("ERROR vmclock_open %s\n", strerrorname_np(-e) ?: "?");
		return 1;
	}
	vmclock = m;
	known = marker();
	printf("START kind=%s hwrng=%d reseed=%s marker=%" PRIu64 " poll=%d pid=%d\n", argv[1],
	    hwrng_available(), kernel_random_path(), known, poll_device(), (int)getpid());
	for (;;) {
		struct round r;
		char path[256];
		bool mid;
		FILE *f;

		draw(&r, seq++);
		if (r.marker_before == known && r.marker_after == known) {
			ring[kept++ % RING] = r;
			if (!looping && r.engine) {
				printf("LOOPING kind=%s marker=%" PRIu64 "\n", argv[1], known);
				looping = true;
			}
			continue;
		}
		/* A restore: what was kept was drawn before the snapshot, this round around it. */
		snprintf(path, sizeof(path), "%s-%u", argv[3], ++changes);
		f = fopen(path, "w");
		if (!f) {
			printf("ERROR fopen %s\n", strerrorname_np(errno) ?: "?");
			return 1;
		}
		for (uint64_t i = kept > RING ? kept - RING : 0; i < kept; i++)
			put_round(f, "PRE", &ring[i % RING]);
		mid = r.marker_before == known;
		put_round(f, mid ? "MID" : "POST", &r);
		known = r.marker_after;
		for (unsigned long i = mid ? 0 : 1; i < count; i++) {
			draw(&r, seq++);
			put_round(f, "POST", &r);
			known = r.marker_after;
		}
		if (fclose(f) != 0) {
			printf("ERROR fclose %s\n", strerrorname_np(errno) ?: "?");
			return 1;
		}
		printf("RECORDED kind=%s n=%u marker=%" PRIu64 " file=%s rounds=%lu\n", argv[1], changes,
		    known, path, count);
		kept = 0;
	}
}
