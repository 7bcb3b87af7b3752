/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One implementation, named on the command line, against the portable reference:
 * random keys and ivs, every length from 0 to 40 blocks (so every SIMD batch size
 * and every tail), unaligned output, no byte written past the end, and the 64-bit
 * counter crossing the 32-bit boundary inside a SIMD batch. Exits 77 only when this
 * CPU cannot run the implementation (or the build has none by that name, which is
 * the case for the x86 paths on other architectures).
 *
 * The random inputs come from a seeded generator: the seed is printed, and
 * passing it as the second argument repeats a failing run.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "chacha20.h"
#include "test.h"

enum {
	MAX_BLOCKS	= 40,
	MAX_OFFSET	= 63,
	GUARD		= 64,
	GUARD_BYTE	= 0xa5,
};

static const struct chacha20_impl *impl;
static uint64_t rng_state;

/* splitmix64: test inputs only. */
static uint64_t next_u64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void random_words(uint32_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w[i] = (uint32_t)next_u64();
}

/*
 * Compare impl against portable for one key/iv/length, writing at @offset bytes
 * past a 64-byte aligned address, with guard bytes on both sides.
 */
static void compare(const uint32_t key[8], const uint32_t iv[4], size_t nblocks, size_t offset)
{
	static _Alignas(64) uint8_t want[MAX_BLOCKS * 64];
	static _Alignas(64) uint8_t buf[GUARD + MAX_OFFSET + MAX_BLOCKS * 64 + GUARD];
	const size_t len = nblocks * 64;
	uint8_t *out = buf + GUARD + offset;
	uint32_t iv_copy[4], key_copy[8];

	memcpy(iv_copy, iv, sizeof(iv_copy));
	memcpy(key_copy, key, sizeof(key_copy));
	chacha20_blocks_portable(want, key, iv, nblocks);
	memset(buf, GUARD_BYTE, sizeof(buf));
	impl->blocks(out, key, iv, nblocks);

	if (memcmp(out, want, len) != 0) {
		size_t i = 0;

		while (out[i] == want[i])
			i++;
		test_fail("%s: %zu blocks, iv {%08" PRIx32 ", %08" PRIx32 ", ...}, offset %zu: "
			  "first difference in block %zu, byte %zu",
			  impl->name, nblocks, iv[0], iv[1], offset, i / 64, i % 64);
	}
	for (uint8_t *p = buf; p < out; p++)
		if (*p != GUARD_BYTE)
			test_fail("%s: %zu blocks: wrote before the output", impl->name, nblocks);
	for (uint8_t *p = out + len; p < buf + sizeof(buf); p++)
		if (*p != GUARD_BYTE)
			test_fail("%s: %zu blocks: wrote %td bytes past the output", impl->name,
				  nblocks, p - (out + len));
	assert_mem_eq(iv_copy, iv, sizeof(iv_copy));
	assert_mem_eq(key_copy, key, sizeof(key_copy));
}

TEST(test_matches_portable_all_lengths)
{
	for (int round = 0; round < 4; round++) {
		for (size_t n = 0; n <= MAX_BLOCKS; n++) {
			uint32_t key[8], iv[4];

			random_words(key, 8);
			random_words(iv, 4);
			/* A random low word would almost never be near the wrap. */
			iv[0] &= 0x7fffffff;
			compare(key, iv, n, (round * 17 + n) % (MAX_OFFSET + 1));
		}
	}
}

TEST(test_matches_portable_unaligned_output)
{
	uint32_t key[8], iv[4];

	random_words(key, 8);
	random_words(iv, 4);
	for (size_t offset = 0; offset <= MAX_OFFSET; offset++)
		compare(key, iv, 17, offset);
}

/*
 * The counter low word wraps inside a batch: starting from 0xfffffffe (and the
 * neighbouring values) every lane after the wrap must also add one to word 13,
 * including word 13 wrapping itself from 0xffffffff to 0.
 */
TEST(test_counter_carry_inside_batch)
{
	static const uint32_t highs[] = { 0, 0x12345678, 0xffffffff };

	for (size_t h = 0; h < sizeof(highs) / sizeof(highs[0]); h++) {
		for (uint32_t back = 1; back <= 18; back++) {
			for (size_t n = 0; n <= MAX_BLOCKS; n++) {
				uint32_t key[8], iv[4];

				random_words(key, 8);
				random_words(iv, 4);
				iv[0] = 0u - back;
				iv[1] = highs[h];
				compare(key, iv, n, n % 5);
			}
		}
	}
}

/* Also check the carry against fixed counter values, not only against portable. */
TEST(test_counter_carry_explicit)
{
	const uint32_t key[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t iv[4] = { 0xfffffffe, 7, 0xdead, 0xbeef };
	uint8_t batch[20 * 64], one[64];

	impl->blocks(batch, key, iv, 20);
	for (uint32_t b = 0; b < 20; b++) {
		uint32_t one_iv[4] = { 0xfffffffe + b, b >= 2 ? 8 : 7, 0xdead, 0xbeef };

		chacha20_blocks_portable(one, key, one_iv, 1);
		if (memcmp(batch + 64 * b, one, 64) != 0)
			test_fail("%s: block %" PRIu32 " after counter 0xfffffffe differs", impl->name, b);
	}
}

int main(int argc, char **argv)
{
	uint64_t seed;

	if (argc < 2)
		test_fail("usage: %s IMPLEMENTATION [SEED]", argv[0]);
	for (size_t i = 0; i < chacha20_impls_count; i++)
		if (strcmp(chacha20_impls[i].name, argv[1]) == 0)
			impl = &chacha20_impls[i];
	if (!impl)
		test_skip("%s is not built for this architecture", argv[1]);
	if (!impl->supported())
		test_skip("this CPU cannot run %s", argv[1]);

	if (argc > 2)
		seed = strtoull(argv[2], NULL, 0);
	else if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		test_fail("getrandom: %m");
	fprintf(stderr, "%s, seed 0x%016" PRIx64 "\n", impl->name, seed);
	rng_state = seed;

	RUN(test_matches_portable_all_lengths);
	RUN(test_matches_portable_unaligned_output);
	RUN(test_counter_carry_inside_batch);
	RUN(test_counter_carry_explicit);
	return 0;
}
