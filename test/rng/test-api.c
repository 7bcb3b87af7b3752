/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The getrandom-compatible contract and the convenience functions, in each engine
 * mode: flags, errors, lengths, and that each mode really serves from where it says.
 *
 * Usage: test-api auto|always|never
 */
#include <sys/random.h>

#include "kernel-random.h"
#include "missing.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

static enum engine_mode mode;

TEST(test_unknown_and_conflicting_flags_are_einval)
{
	uint8_t b[8];

	errno = 0;
	assert_eq(snapsafe_getrandom(b, sizeof(b), 0x80), -1);
	assert_eq(errno, EINVAL);
	errno = 0;
	assert_eq(snapsafe_getrandom(b, sizeof(b), GRND_RANDOM | GRND_INSECURE), -1);
	assert_eq(errno, EINVAL);
}

TEST(test_every_flag_fills_the_whole_buffer)
{
	static uint8_t a[70000], b[70000];
	unsigned int flags[] = { 0, GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE,
				 GRND_NONBLOCK | GRND_INSECURE };

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		assert_eq(snapsafe_getrandom(a, sizeof(a), flags[i]), sizeof(a));
		assert_eq(snapsafe_getrandom(b, sizeof(b), flags[i]), sizeof(b));
		/* Two draws never agree, and the tail was written (not short). */
		assert_true(memcmp(a, b, sizeof(a)) != 0);
		assert_true(memcmp(a + sizeof(a) - 32, b + sizeof(b) - 32, 32) != 0);
	}
	assert_eq(snapsafe_getrandom(a, 0, 0), 0);
}

TEST(test_lengths_around_batch_boundaries_are_fresh)
{
	static uint8_t buf[3 * RNG_BATCH_SIZE + 7];
	uint8_t prev[32] = { 0 };

	for (size_t len = 1; len <= sizeof(buf); len += (len < 200 ? 1 : 97)) {
		memset(buf, 0, len);
		snapsafe_random_buf(buf, len);
		if (len >= 32) {
			assert_true(memcmp(buf + len - 32, prev, 32) != 0);
			memcpy(prev, buf + len - 32, 32);
		}
	}
}

TEST(test_u32_u64_cover_all_bits)
{
	uint32_t or32 = 0, and32 = ~0u;
	uint64_t or64 = 0, and64 = ~0ull;

	for (int i = 0; i < 1000; i++) {
		uint32_t a = snapsafe_random_u32();
		uint64_t b = snapsafe_random_u64();

		or32 |= a;
		and32 &= a;
		or64 |= b;
		and64 &= b;
	}
	assert_eq(or32, 0xffffffffu);
	assert_eq(and32, 0);
	assert_true(or64 == ~0ull);
	assert_true(and64 == 0);
}

TEST(test_mode_serves_from_where_it_says)
{
	uint8_t b[2048];

	snapsafe_random_buf(b, sizeof(b));
	snapsafe_random_buf(b, sizeof(b));
	fprintf(stderr, "mode %s, kernel path %s, memory %s, chacha %s\n", policy_mode_name(mode),
		kernel_random_path(), state_memory_name(state_pool_memory()), chacha20_best_name());
	if (mode == ENGINE_ALWAYS) {
		assert_true(rng_thread_engine_requests() >= 2);
		assert_true(rng_current_state() && rng_current_state()->ready);
	} else {
		/* never, and auto with no daemon page and no VM source: the kernel only. */
		assert_eq(rng_thread_engine_requests(), 0);
		assert_true(!rng_current_state() || !rng_current_state()->ready);
	}
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "auto";

	/* auto must see no daemon: point it at a directory that has none. */
	setenv("SNAPSAFE_RUNTIME_DIR", "/nonexistent-snapsafe-test", 1);
	setenv("SNAPSAFE_VMCLOCK_PATH", "/nonexistent-snapsafe-test/vmclock", 1);
	setenv("SNAPSAFE_ENGINE", m, 1);
	mode = policy_mode();
	if (strcmp(m, policy_mode_name(mode)) != 0)
		test_fail("SNAPSAFE_ENGINE=%s read as %s", m, policy_mode_name(mode));
	RUN(test_unknown_and_conflicting_flags_are_einval);
	RUN(test_every_flag_fills_the_whole_buffer);
	RUN(test_lengths_around_batch_boundaries_are_fresh);
	RUN(test_u32_u64_cover_all_bits);
	RUN(test_mode_serves_from_where_it_says);
	return 0;
}
