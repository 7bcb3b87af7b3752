/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function (RFC 8439), internal interface.
 *
 * One function type, several implementations (portable C, SSE2, AVX2, AVX-512F),
 * chosen once at run time by CPU features. All produce the same keystream.
 * The 64-bit block counter lives in input words 12-13 (word 12 carries into 13),
 * as in the kernel's RNG; for RFC 8439's 32-bit counter and 96-bit nonce, pass the
 * nonce's first word as the counter's high half: the streams agree until the low
 * counter word wraps, which no RFC vector reaches.
 */
#ifndef SNAPSAFE_LIB_CHACHA20_H
#define SNAPSAFE_LIB_CHACHA20_H

#include <stddef.h>
#include <stdint.h>

enum {
	CHACHA20_KEY_SIZE	= 32,
	CHACHA20_BLOCK_SIZE	= 64,
};

/*
 * chacha20_blocks_fn - write @nblocks * 64 bytes of keystream to @out.
 * @key:   8 little-endian key words
 * @iv:    {counter low, counter high, nonce 0, nonce 1}; the counter of the first
 *         block. Not modified: the caller advances it by @nblocks.
 * @out:   destination, any alignment
 * @nblocks: number of 64-byte blocks (may be 0)
 */
typedef void chacha20_blocks_fn(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
				size_t nblocks);

chacha20_blocks_fn chacha20_blocks_portable;
chacha20_blocks_fn chacha20_blocks_sse2;
chacha20_blocks_fn chacha20_blocks_avx2;
chacha20_blocks_fn chacha20_blocks_avx512;

struct chacha20_impl {
	const char *name;
	chacha20_blocks_fn *blocks;
	int (*supported)(void);		/* 1 when this CPU can run it */
};

/* All implementations, portable first; for tests and the benchmark. */
extern const struct chacha20_impl chacha20_impls[];
extern const size_t chacha20_impls_count;

/* The fastest supported implementation, chosen on first use. */
chacha20_blocks_fn *chacha20_best(void);
const char *chacha20_best_name(void);

#endif
