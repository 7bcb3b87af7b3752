/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AES-256-CTR with AES-NI on XMM registers: 8 counter blocks in flight, so that the
 * AESENC latency is hidden behind independent blocks; a tail of fewer runs one at a
 * time. Built with -maes -mssse3 only; aes256ctr.c calls it only when the CPU has
 * AES-NI. The loops are unrolled (GCC's pragma), or the blocks would live in memory.
 * The round keys live on this frame's stack: they are zeroed, the stack depth
 * scrubbed (aes_scrub_stack()) and the XMM registers cleared before returning.
 */
#include <immintrin.h>

#include "aes256-key.h"
#include "aes256ctr.h"
#include "chacha20-wipe.h"

enum {
	WAYS = 8,
};

static __attribute__((noinline))
void aes256ctr_aesni_work(uint8_t *out, const uint8_t key[AES256_KEY_SIZE],
			  const uint8_t iv[AES_BLOCK_SIZE], size_t nblocks)
{
	const __m128i swap = aes_counter_swap_mask(), one = _mm_set_epi32(1, 0, 0, 0);
	__m128i rk[AES256_ROUND_KEYS], ctr, b[WAYS];

	aes256_expand_key(rk, key);
	ctr = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)iv), swap);
	for (; nblocks >= WAYS; nblocks -= WAYS, out += WAYS * AES_BLOCK_SIZE) {
		#pragma GCC unroll 16
		for (int j = 0; j < WAYS; j++) {
			b[j] = _mm_xor_si128(_mm_shuffle_epi8(ctr, swap), rk[0]);
			ctr = _mm_add_epi32(ctr, one);
		}
		#pragma GCC unroll 16
		for (int r = 1; r < AES256_ROUND_KEYS - 1; r++)
			#pragma GCC unroll 16
			for (int j = 0; j < WAYS; j++)
				b[j] = _mm_aesenc_si128(b[j], rk[r]);
		#pragma GCC unroll 16
		for (int j = 0; j < WAYS; j++)
			_mm_storeu_si128((__m128i *)(void *)(out + j * AES_BLOCK_SIZE),
					 _mm_aesenclast_si128(b[j], rk[AES256_ROUND_KEYS - 1]));
	}
	for (; nblocks > 0; nblocks--, out += AES_BLOCK_SIZE) {
		_mm_storeu_si128((__m128i *)(void *)out,
				 aes256_encrypt_block(rk, _mm_shuffle_epi8(ctr, swap)));
		ctr = _mm_add_epi32(ctr, one);
	}
	chacha20_wipe(rk, sizeof(rk));
	chacha20_wipe_xmm();
}

void aes256ctr_aesni(uint8_t *out, const uint8_t key[AES256_KEY_SIZE],
		     const uint8_t iv[AES_BLOCK_SIZE], size_t nblocks)
{
	aes256ctr_aesni_work(out, key, iv, nblocks);
	aes_scrub_stack();
}
