/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function (RFC 8439 section 2.3) in portable C: the reference the
 * SIMD implementations are tested against, and the fallback on any CPU. One block
 * at a time, with the 64-bit counter in words 12-13 (see chacha20.h). Only the
 * keystream: no XOR with a message, no nonce handling beyond the four iv words.
 */
#include <string.h>

#include "chacha20.h"
#include "chacha20-wipe.h"

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))

#define QUARTERROUND(x, a, b, c, d) do {					\
		x[a] += x[b]; x[d] ^= x[a]; x[d] = ROTL32(x[d], 16);		\
		x[c] += x[d]; x[b] ^= x[c]; x[b] = ROTL32(x[b], 12);		\
		x[a] += x[b]; x[d] ^= x[a]; x[d] = ROTL32(x[d], 8);		\
		x[c] += x[d]; x[b] ^= x[c]; x[b] = ROTL32(x[b], 7);		\
	} while (0)

static inline void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static __attribute__((noinline))
void chacha20_portable_work(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			    size_t nblocks)
{
	/* "expand 32-byte k" */
	uint32_t s[16] = {
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
		iv[0], iv[1], iv[2], iv[3],
	};
	uint32_t x[16];

	for (; nblocks; nblocks--, out += CHACHA20_BLOCK_SIZE) {
		memcpy(x, s, sizeof(x));
		for (int i = 0; i < 10; i++) {
			QUARTERROUND(x, 0, 4, 8, 12);
			QUARTERROUND(x, 1, 5, 9, 13);
			QUARTERROUND(x, 2, 6, 10, 14);
			QUARTERROUND(x, 3, 7, 11, 15);
			QUARTERROUND(x, 0, 5, 10, 15);
			QUARTERROUND(x, 1, 6, 11, 12);
			QUARTERROUND(x, 2, 7, 8, 13);
			QUARTERROUND(x, 3, 4, 9, 14);
		}
		for (int i = 0; i < 16; i++)
			store_le32(out + 4 * i, x[i] + s[i]);

		/* 64-bit block counter: word 12 carries into word 13. */
		if (++s[12] == 0)
			s[13]++;
	}

	/*
	 * The key sits in s[] and x[] holds a whole block of keystream, which the
	 * caller may be using as its next key (fast key erasure): neither may outlive
	 * this call on the stack.
	 */
	chacha20_wipe(s, sizeof(s));
	chacha20_wipe(x, sizeof(x));
	/* GCC copies the key with SSE loads and stores: XMM registers hold key words. */
	chacha20_wipe_xmm();
}

void chacha20_blocks_portable(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			      size_t nblocks)
{
	if (!nblocks)
		return;
	/*
	 * 16 state words do not fit in the general registers, so the compiler spills
	 * some, and GCC 12 stores a copy of key[0..3] beside s[]: the work has its own
	 * frame, and the same stack depth is overwritten once it has returned.
	 */
	chacha20_portable_work(out, key, iv, nblocks);
	chacha20_scrub_stack();
}
