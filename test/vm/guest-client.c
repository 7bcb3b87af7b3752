// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * guest-client: the application inside the VM clone tests (docs/vm-clones.md).
 *
 * Draws random bytes from libsnapsafe in its default policy, watches the system
 * generation and prints, one line per event on stdout (the guest console):
 *
 *   START pid=<pid> gen=<g> mono=<ns> real=<ns>
 *   PATHS policy=<auto|always|never> memory=<droppable|wipeonfork|none> reseed=<vdso|syscall>
 *         sysgenid=<0|1>
 *   DRAW seq=<n> gen=<g> engine=<0|1> mono=<ns> real=<ns> bytes=<hex> [kgen=<k>]
 *   RISE gen=<g> mono=<ns>                 the page changed (futex wait woke)
 *   WATCHING gen=<g> mono=<ns>             the watcher is registered
 *   SEEN gen=<g> mono=<ns> bytes=<hex>     the watcher read a new generation, and
 *                                          the first bytes drawn after it
 *   ACKED gen=<g> rc=<rc> mono=<ns>
 *   ERROR <what> <errno name>
 *
 * DRAW's gen is the generation read before and after the draw; a draw during which it
 * changed says gen=<before>-<after>, so the host knows exactly which draws started after
 * a rise. engine says whether the userspace engine may serve (policy), for the quiesce
 * scenario; PATHS says which memory and reseed paths this kernel gives (the 6.12 guest:
 * MAP_DROPPABLE and the vDSO; 6.1: MADV_WIPEONFORK and the syscall) and whether the
 * library maps a kernel /dev/sysgenid as a generation source of its own (the kmod tests).
 * Times are CLOCK_MONOTONIC and CLOCK_REALTIME in ns; the host measures the window after a
 * resume from the guest agent's resume mark (guest-agent.c).
 *
 * With a kernel /dev/sysgenid (test/kmod), DRAW also says kgen=<k>, the device's generation
 * before and after the draw (<before>-<after> when it changed), read from a mapping of our
 * own: the host tells by it which draws began after the kernel's raise and before the
 * daemon's, the window that only the library's direct read of the device closes.
 *
 * Each line is written with one write(2), so lines from the three threads never mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "console-line.h"
#include "kernel-random.h"
#include "policy.h"
#include "rng.h"
#include "sources.h"
#include "state.h"
#include "../../kmod/include/uapi/linux/sysgenid.h"

enum {
	DRAW_BYTES = 16,
};

static unsigned int interval_ms = 20;
static const volatile uint32_t *kgen;	/* a kernel /dev/sysgenid's page, or NULL */

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Our own read-only view of a kernel /dev/sysgenid, which must not count as a watcher. */
static void map_kernel_sysgenid(void)
{
	struct stat st;
	void *p;
	int fd;

	fd = open("/dev/sysgenid", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    ioctl(fd, SYSGENID_SET_WATCHER_TRACKING, 0) < 0) {
		close(fd);
		return;
	}
	p = mmap(NULL, 4, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		kgen = p;
}

/* Wakes on the page's futex as soon as the daemon raises: the rise, in guest time. */
static void *rise_thread(void *arg)
{
	uint32_t seen = snapsafe_generation();

	for (;;) {
		int64_t g = snapsafe_generation_wait(seen, 0);
		uint64_t t = now_ns(CLOCK_MONOTONIC);

		if (g < 0) {
			if (g != -EINTR && g != -ETIMEDOUT)
				sleep_ms(100);
			seen = snapsafe_generation();
			continue;
		}
		console_line("RISE gen=%u mono=%" PRIu64, (uint32_t)g, t);
		seen = (uint32_t)g;
	}
	return NULL;
}

/* A registered watcher: reads each new generation, draws, then acknowledges. */
static void *watch_thread(void *arg)
{
	struct snapsafe_watcher *w = NULL;
	uint8_t buf[DRAW_BYTES];
	char text[2 * DRAW_BYTES + 1];
	int r;

	while ((r = snapsafe_watcher_open(0, &w)) < 0) {
		console_line("ERROR watcher_open %s", strerrorname_np(-r) ?: "?");
		sleep_ms(200);
	}
	console_line("WATCHING gen=%u mono=%" PRIu64, snapsafe_generation(), now_ns(CLOCK_MONOTONIC));
	for (;;) {
		uint32_t gen;
		uint64_t t;

		r = snapsafe_watcher_read(w, &gen);
		t = now_ns(CLOCK_MONOTONIC);
		if (r < 0) {
			console_line("ERROR watcher_read %s", strerrorname_np(-r) ?: "?");
			sleep_ms(200);
			continue;
		}
		snapsafe_random_buf(buf, sizeof(buf));
		console_hex(text, buf, sizeof(buf));
		console_line("SEEN gen=%u mono=%" PRIu64 " bytes=%s", gen, t, text);
		r = snapsafe_watcher_ack(w, gen);
		console_line("ACKED gen=%u rc=%d mono=%" PRIu64, gen, r, now_ns(CLOCK_MONOTONIC));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint8_t buf[DRAW_BYTES];
	char text[2 * DRAW_BYTES + 1], ktext[32];
	pthread_t t1, t2;

	if (argc > 1)
		interval_ms = (unsigned int)strtoul(argv[1], NULL, 10);
	map_kernel_sysgenid();

	console_line("START pid=%d gen=%u mono=%" PRIu64 " real=%" PRIu64, (int)getpid(),
	     snapsafe_generation(), now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME));
	if (pthread_create(&t1, NULL, rise_thread, NULL) != 0 ||
	    pthread_create(&t2, NULL, watch_thread, NULL) != 0) {
		console_line("ERROR pthread_create");
		return 1;
	}
	for (uint64_t seq = 0;; seq++) {
		uint32_t before = snapsafe_generation(), after;
		uint32_t kbefore = kgen ? *kgen : 0, kafter;
		bool engine;
		uint64_t mono, real;

		snapsafe_random_buf(buf, sizeof(buf));
		mono = now_ns(CLOCK_MONOTONIC);
		real = now_ns(CLOCK_REALTIME);
		after = snapsafe_generation();
		kafter = kgen ? *kgen : 0;
		engine = rng_thread_engine_seeded();
		console_hex(text, buf, sizeof(buf));
		ktext[0] = '\0';
		if (kgen && kbefore == kafter)
			snprintf(ktext, sizeof(ktext), " kgen=%u", kbefore);
		else if (kgen)
			snprintf(ktext, sizeof(ktext), " kgen=%u-%u", kbefore, kafter);
		if (before == after)
			console_line("DRAW seq=%" PRIu64 " gen=%u engine=%d mono=%" PRIu64 " real=%" PRIu64
			     " bytes=%s%s", seq, before, engine, mono, real, text, ktext);
		else
			console_line("DRAW seq=%" PRIu64 " gen=%u-%u engine=%d mono=%" PRIu64 " real=%" PRIu64
			     " bytes=%s%s", seq, before, after, engine, mono, real, text, ktext);
		if (seq == 0)
			/* After the first draw: the state memory and the vDSO are set up. */
			console_line("PATHS policy=%s memory=%s reseed=%s sysgenid=%d",
			     policy_mode_name(policy_mode()),
			     state_memory_name(state_pool_memory()), kernel_random_path(),
			     gen_sources.sysgenid);
		sleep_ms(interval_ms);
	}
}
