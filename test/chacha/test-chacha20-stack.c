/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * No implementation leaves a copy of the key on the stack: after each call of a ChaCha20
 * or an AES-256-CTR implementation (whose first two round keys are the key itself), the
 * stack the call used (the area just below the caller's frame) must not hold any
 * of the eight key words. The key is random, so a match by chance is a 2^-27 event
 * over the whole scan. This catches the compiler's own copies (spills, a vector
 * copy of the key beside the state), which explicit_bzero() of named arrays does
 * not reach; GCC 12 -O2 made one in the portable code before scrub_stack().
 * It cannot see register contents or state words mixed by the rounds.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "aes256ctr.h"
#include "chacha20.h"
#include "test.h"

enum { SCAN_BYTES = 4096 };

static uint32_t key[8];

/*
 * Copy the stack area below our own frame, which is where the previous call from
 * the same caller put its frame. Read through volatile so the compiler cannot
 * reason about memory it considers dead; the area is mapped since the previous
 * call used it.
 */
static __attribute__((noinline)) void copy_stack_below(uint8_t *ret, size_t len)
{
	const volatile uint8_t *p = (const volatile uint8_t *)__builtin_frame_address(0);

	/* Start well below this function's own locals. */
	p -= 256 + len;
	for (size_t i = 0; i < len; i++)
		ret[i] = p[i];
}

static void scan_for_key(const char *name, size_t nblocks)
{
	static uint8_t seen[SCAN_BYTES];

	copy_stack_below(seen, sizeof(seen));
	for (size_t off = 0; off + 4 <= sizeof(seen); off += 4)
		for (int k = 0; k < 8; k++)
			if (memcmp(seen + off, &key[k], 4) == 0)
				test_fail("%s, %zu blocks: key word %d left on the stack, %zu bytes below", name,
					  nblocks, k, 256 + sizeof(seen) - off);
}

static void check_no_key_left(const struct chacha20_impl *impl, size_t nblocks)
{
	static uint8_t out[64 * 40];
	uint32_t iv[4] = { 1, 2, 3, 4 };

	impl->blocks(out, key, iv, nblocks);
	scan_for_key(impl->name, nblocks);
}

static void check_no_aes_key_left(const struct aes256ctr_impl *impl, size_t nblocks)
{
	static uint8_t out[16 * 40];
	const uint8_t iv[16] = { 1, 2, 3, 4 };

	impl->blocks(out, (const uint8_t *)key, iv, nblocks);
	scan_for_key(impl->name, nblocks);
}

int main(void)
{
#if defined(__SANITIZE_ADDRESS__)
	/* ASan moves locals to its own fake stacks and pads frames: nothing to scan. */
	fprintf(stderr, "SKIP: the stack layout under AddressSanitizer is not the real one\n");
	return 77;
#endif
	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		test_fail("getrandom: %m");
	for (size_t i = 0; i < chacha20_impls_count; i++) {
		if (!chacha20_impls[i].supported())
			continue;
		fprintf(stderr, "-- %s\n", chacha20_impls[i].name);
		for (size_t n = 1; n <= 40; n += 3)
			check_no_key_left(&chacha20_impls[i], n);
	}
	for (size_t i = 0; i < aes256ctr_impls_count; i++) {
		if (!aes256ctr_impls[i].supported())
			continue;
		fprintf(stderr, "-- %s\n", aes256ctr_impls[i].name);
		for (size_t n = 1; n <= 40; n += 3)
			check_no_aes_key_left(&aes256ctr_impls[i], n);
	}
	return 0;
}
