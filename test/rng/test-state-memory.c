/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state's memory: marked never-dumped and wiped-on-fork (or droppable) in
 * /proc/self/smaps; a state wiped under the engine, as the kernel does on fork or
 * memory pressure, is reseeded and never serves zeros or the bytes it held.
 *
 * Usage: test-state-memory [droppable|wipeonfork]
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "state.h"
#include "test.h"

static char *vmflags_of(const void *addr)
{
	static char flags[512];
	char line[512];
	uintptr_t a = (uintptr_t)addr;
	int inside = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		test_fail("open smaps: %m");
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char dash;

		/* A mapping header starts with "lo-hi "; the field lines start with a name. */
		if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-')
			inside = a >= lo && a < hi;
		else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, sizeof(flags), "%s", line + 8);
			fclose(f);
			return flags;
		}
	}
	fclose(f);
	test_fail("no mapping holds %p", addr);
}

static int has_flag(const char *flags, const char *flag)
{
	char padded[8];

	snprintf(padded, sizeof(padded), " %s ", flag);
	char all[520];
	snprintf(all, sizeof(all), " %s ", flags);
	for (char *p = all; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return strstr(all, padded) != NULL;
}

TEST(test_state_mapping_is_nodump_and_wiped_on_fork)
{
	const char *flags;

	snapsafe_random_u32();
	flags = vmflags_of(rng_current_state());
	fprintf(stderr, "memory %s, VmFlags:%s", state_memory_name(state_pool_memory()), flags);
	assert_true(has_flag(flags, "dd"));	/* MADV_DONTDUMP / droppable: never in a core */
	assert_true(has_flag(flags, "wf"));	/* wiped in a fork child */
	if (state_pool_memory() == STATE_MEMORY_DROPPABLE)
		assert_true(has_flag(flags, "dp"));
}

/* Let the kernel zero the state's page, exactly what memory pressure does to droppable memory. */
static void kernel_wipes_state(void)
{
	uintptr_t page = (uintptr_t)rng_current_state() & ~(uintptr_t)4095;

	if (madvise((void *)page, 4096, MADV_DONTNEED) < 0)
		test_fail("madvise: %m");
}

TEST(test_wiped_state_reseeds_instead_of_serving_zeros_or_old_bytes)
{
	struct rng_state *s;
	uint8_t pending[64], out[64], zero[64] = { 0 };
	uint64_t reseeds;

	snapsafe_random_buf(out, 16);
	s = rng_current_state();
	assert_true(s->ready);
	memcpy(pending, s->batch + s->pos, sizeof(pending));
	reseeds = rng_thread_reseeds();

	kernel_wipes_state();
	assert_eq(s->ready, 0);	/* the page really is gone */
	snapsafe_random_buf(out, sizeof(out));
	assert_eq(rng_thread_reseeds(), reseeds + 1);
	assert_true(memcmp(out, zero, sizeof(out)) != 0);
	assert_true(memcmp(out, pending, sizeof(pending)) != 0);
}

static volatile sig_atomic_t wipes;

static void wipe_handler(int sig)
{
	(void)sig;
	kernel_wipes_state();
	wipes++;
}

TEST(test_state_wiped_during_requests_never_leaks_zeros)
{
	static uint8_t buf[1 << 16];
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct sigaction sa = { .sa_handler = wipe_handler };

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int round = 0; round < 3000 && wipes < 200; round++) {
		size_t len = 64 + (size_t)(round * 977) % (sizeof(buf) - 64);

		snapsafe_random_buf(buf, len);
		/* No 64-byte run of zeros: that is what a wiped key or batch would produce. */
		for (size_t i = 0; i + 64 <= len; i += 64) {
			static const uint8_t zero[64];

			if (memcmp(buf + i, zero, 64) == 0)
				test_fail("zeros served at offset %zu after a wipe", i);
		}
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	fprintf(stderr, "%d wipes during requests, %llu reseeds\n", (int)wipes,
		(unsigned long long)rng_thread_reseeds());
	assert_true(wipes > 0);
	assert_true(rng_thread_reseeds() > 1);
}

int main(int argc, char **argv)
{
	policy_force_mode(ENGINE_ALWAYS);
	if (argc > 1 && strcmp(argv[1], "wipeonfork") == 0)
		state_pool_force_memory(STATE_MEMORY_WIPEONFORK);
	if (state_pool_memory() == STATE_MEMORY_NONE)
		test_skip("no fork-safe memory on this kernel: the engine is off");
	if (argc > 1 && strcmp(argv[1], "droppable") == 0 &&
	    state_pool_memory() != STATE_MEMORY_DROPPABLE)
		test_skip("no MAP_DROPPABLE (Linux < 6.11)");
	RUN(test_state_mapping_is_nodump_and_wiped_on_fork);
	RUN(test_wiped_state_reseeds_instead_of_serving_zeros_or_old_bytes);
	RUN(test_state_wiped_during_requests_never_leaks_zeros);
	return 0;
}
