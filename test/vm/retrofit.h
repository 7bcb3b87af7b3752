/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the retrofit scenario's guest programs share (vm-retrofit-test.py, docs/vm-clones.md):
 * the line each draw prints, the system generation read before and after it, and the test-only
 * view of an engine that the observed builds of the shim and of the provider export
 * (engine-observe.c).
 *
 * The programs draw through glibc or OpenSSL like any program and do not link libsnapsafe.
 * Their bookkeeping around each draw is the test's: snapsafed's page read at offset 0, which
 * any process may map (docs/page.md), so the host knows which draws began after a rise; and,
 * under an observed build, the engine's fingerprint before and after the draw, so it knows
 * which draws the engine served. One line per draw, written with one write(2):
 *
 *   RDRAW prog=<name> fn=<function> seq=<n> gen=<g>[-<g'>] path=<path> mono=<ns> bytes=<hex>
 *
 * gen is the generation before the draw, and <before>-<after> when it changed during the
 * draw; mono is CLOCK_MONOTONIC when the draw began. path is "engine" (an observed engine
 * served the bytes), "kernel" (an observed engine did not), "mixed" (a command whose requests
 * went both ways) or "-" (nothing observed: a release build, or a control without snapsafe).
 */
#ifndef SNAPSAFE_TEST_VM_RETROFIT_H
#define SNAPSAFE_TEST_VM_RETROFIT_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "console-line.h"
#include "page.h"

enum {
	RETROFIT_BYTES = 16,
};

/* Exported by the observed builds: 0 when this thread's engine holds no seeded state. */
typedef uint64_t vm_engine_fingerprint_fn(void);

static inline uint64_t retrofit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void retrofit_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* snapsafed's page, read-only; the guest starts these programs after the daemon. */
static inline const struct snapsafe_page *retrofit_page(const char *prog)
{
	const char *dir = getenv("SNAPSAFE_RUNTIME_DIR");
	char path[256];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/generation", dir && *dir ? dir : "/run/snapsafe");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	p = fd < 0 ? MAP_FAILED : mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		console_line("RERROR prog=%s cannot map %s (errno %d)", prog, path, errno);
		exit(1);
	}
	close(fd);
	return p;
}

static inline uint32_t retrofit_generation(const struct snapsafe_page *page)
{
	return __atomic_load_n(&page->generation, __ATOMIC_ACQUIRE);
}

/* The path of one draw from the engine's fingerprints around it (fp: observed or not). */
static inline const char *retrofit_path(vm_engine_fingerprint_fn *fp, uint64_t before,
					uint64_t after)
{
	if (!fp)
		return "-";
	/* A served request moves the position or reseeds; the kernel leaves the state alone. */
	return after != 0 && after != before ? "engine" : "kernel";
}

static inline void retrofit_draw_line(const char *prog, const char *fn, uint64_t seq,
				      uint32_t gen_before, uint32_t gen_after, const char *path,
				      uint64_t mono, const uint8_t *buf)
{
	char text[2 * RETROFIT_BYTES + 1], gen[32];

	console_hex(text, buf, RETROFIT_BYTES);
	if (gen_before == gen_after)
		snprintf(gen, sizeof(gen), "%" PRIu32, gen_before);
	else
		snprintf(gen, sizeof(gen), "%" PRIu32 "-%" PRIu32, gen_before, gen_after);
	console_line("RDRAW prog=%s fn=%s seq=%" PRIu64 " gen=%s path=%s mono=%" PRIu64
		      " bytes=%s", prog, fn, seq, gen, path, mono, text);
}

#endif
