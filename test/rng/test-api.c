/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The getrandom-compatible contract and the convenience functions, in each engine
 * mode: flags, errors, lengths, and that each mode really serves from where it says.
 *
 * In always mode, a long request is also checked byte for byte against the construction
 * docs/rng.md describes: the rest of the batch, the bulk part (AES-256-CTR under one-time
 * keys where the CPU has AES instructions, else ChaCha20 past the batch's blocks), then
 * the refilled batch.
 *
 * Usage: test-api auto|always|never [noaes]   (noaes: SNAPSAFE_AES=none)
 */
#include <sys/random.h>

#include "aes256ctr.h"
#include "cpu.h"
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

/* What the engine must serve for @len bytes from state @s as it is now, without changing it. */
static void expected_output(const struct rng_state *s, uint8_t *out, size_t len)
{
	static uint8_t batch[RNG_BATCH_SIZE];
	chacha20_blocks_fn *chacha = chacha20_best();
	aes256ctr_fn *aes = aes256ctr_best();
	uint32_t iv[4] = { RNG_BATCH_BLOCKS, 0, 0, 0 };
	size_t avail = RNG_BATCH_SIZE - s->pos, bulk;

	memcpy(out, s->batch + s->pos, avail);
	out += avail;
	len -= avail;
	bulk = len / CHACHA20_BLOCK_SIZE * CHACHA20_BLOCK_SIZE;
	if (aes && bulk >= RNG_AES_MIN_BYTES) {
		static const uint8_t zero[AES_BLOCK_SIZE];

		for (size_t done = 0; done < bulk; done += RNG_AES_CHUNK_BYTES, iv[0]++) {
			uint8_t block[CHACHA20_BLOCK_SIZE];
			size_t n = bulk - done < RNG_AES_CHUNK_BYTES ? bulk - done : RNG_AES_CHUNK_BYTES;

			chacha(block, s->key, iv, 1);
			aes(out + done, block, zero, n / AES_BLOCK_SIZE);
		}
	} else {
		chacha(out, s->key, iv, bulk / CHACHA20_BLOCK_SIZE);
	}
	out += bulk;
	len -= bulk;
	iv[0] = 0;
	chacha(batch, s->key, iv, RNG_BATCH_BLOCKS);
	memcpy(out, batch + CHACHA20_KEY_SIZE, len);
}

TEST(test_long_requests_are_the_documented_construction)
{
	static uint8_t got[3 * RNG_AES_CHUNK_BYTES + 5 * CHACHA20_BLOCK_SIZE + 13 + RNG_BATCH_SIZE];
	static uint8_t want[sizeof(got)];
	static struct rng_state before;
	const size_t tails[] = { 3 * RNG_AES_CHUNK_BYTES + 5 * CHACHA20_BLOCK_SIZE + 13,
				 RNG_AES_MIN_BYTES + 1, RNG_AES_MIN_BYTES - 64, 200 };

	if (mode != ENGINE_ALWAYS)
		return;
	fprintf(stderr, "bulk: aes %s\n", aes256ctr_best_name());
	if (!getenv("SNAPSAFE_AES") && cpu_has_aesni())
		assert_true(aes256ctr_best() != NULL);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		uint64_t reseeds;
		size_t len;

		snapsafe_random_buf(got, 40);	/* seeded, part of the batch served */
		before = *rng_current_state();
		len = RNG_BATCH_SIZE - before.pos + tails[i];
		reseeds = rng_thread_reseeds();
		expected_output(&before, want, len);
		snapsafe_random_buf(got, len);
		assert_eq(rng_thread_reseeds(), reseeds);
		if (memcmp(got, want, len) != 0)
			test_fail("a request of %zu bytes is not the documented construction", len);
		/* And the key was erased: the state moved on. */
		assert_true(memcmp(rng_current_state()->key, before.key, sizeof(before.key)) != 0);
	}
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "auto";

	/* auto must see no daemon: point it at a directory that has none. */
	setenv("SNAPSAFE_RUNTIME_DIR", "/nonexistent-snapsafe-test", 1);
	setenv("SNAPSAFE_VMCLOCK_PATH", "/nonexistent-snapsafe-test/vmclock", 1);
	setenv("SNAPSAFE_ENGINE", m, 1);
	if (argc > 2 && strcmp(argv[2], "noaes") == 0)
		setenv("SNAPSAFE_AES", "none", 1);
	mode = policy_mode();
	if (strcmp(m, policy_mode_name(mode)) != 0)
		test_fail("SNAPSAFE_ENGINE=%s read as %s", m, policy_mode_name(mode));
	RUN(test_unknown_and_conflicting_flags_are_einval);
	RUN(test_every_flag_fills_the_whole_buffer);
	RUN(test_lengths_around_batch_boundaries_are_fresh);
	RUN(test_u32_u64_cover_all_bits);
	RUN(test_mode_serves_from_where_it_says);
	RUN(test_long_requests_are_the_documented_construction);
	return 0;
}
