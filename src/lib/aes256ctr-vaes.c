/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AES-256-CTR with VAES on YMM registers: two blocks per register, 8 registers (16
 * blocks) in flight; what is left after that goes 2 blocks at a time, and a last odd
 * block through the 128-bit instructions. Built with -mvaes -mavx2 -maes; aes256ctr.c
 * calls it only when the CPU has VAES and the OS saves the YMM state. The round keys
 * are broadcast to both halves on this frame's stack: zeroed, the stack depth scrubbed
 * (aes_scrub_stack()) and every vector register cleared (VZEROALL) before returning.
 * The loops are unrolled, as in aes256ctr-aesni.c.
 */
#include <immintrin.h>

#include "aes256-key.h"
#include "aes256ctr.h"
#include "chacha20-wipe.h"

enum {
	WAYS = 8,		/* registers, two blocks each */
};

static inline __attribute__((always_inline))
__m256i encrypt2(const __m256i rk[AES256_ROUND_KEYS], __m256i b)
{
	b = _mm256_xor_si256(b, rk[0]);
	#pragma GCC unroll 16
	for (int r = 1; r < AES256_ROUND_KEYS - 1; r++)
		b = _mm256_aesenc_epi128(b, rk[r]);
	return _mm256_aesenclast_epi128(b, rk[AES256_ROUND_KEYS - 1]);
}

static __attribute__((noinline))
void aes256ctr_vaes_work(uint8_t *out, const uint8_t key[AES256_KEY_SIZE],
			 const uint8_t iv[AES_BLOCK_SIZE], size_t nblocks)
{
	const __m128i swap = aes_counter_swap_mask(), one = _mm_set_epi32(1, 0, 0, 0);
	const __m256i swap2 = _mm256_broadcastsi128_si256(swap),
		      two = _mm256_set_epi32(2, 0, 0, 0, 2, 0, 0, 0);
	__m128i rk[AES256_ROUND_KEYS], ctr;
	__m256i rk2[AES256_ROUND_KEYS], ctr2, b[WAYS];

	aes256_expand_key(rk, key);
	#pragma GCC unroll 16
	for (int r = 0; r < AES256_ROUND_KEYS; r++)
		rk2[r] = _mm256_broadcastsi128_si256(rk[r]);
	ctr = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)iv), swap);
	/* The low half counts the even blocks, the high half the odd ones. */
	ctr2 = _mm256_set_m128i(_mm_add_epi32(ctr, one), ctr);
	for (; nblocks >= 2 * WAYS; nblocks -= 2 * WAYS, out += 2 * WAYS * AES_BLOCK_SIZE) {
		#pragma GCC unroll 16
		for (int j = 0; j < WAYS; j++) {
			b[j] = _mm256_xor_si256(_mm256_shuffle_epi8(ctr2, swap2), rk2[0]);
			ctr2 = _mm256_add_epi32(ctr2, two);
		}
		#pragma GCC unroll 16
		for (int r = 1; r < AES256_ROUND_KEYS - 1; r++)
			#pragma GCC unroll 16
			for (int j = 0; j < WAYS; j++)
				b[j] = _mm256_aesenc_epi128(b[j], rk2[r]);
		#pragma GCC unroll 16
		for (int j = 0; j < WAYS; j++)
			_mm256_storeu_si256((__m256i *)(void *)(out + 2 * j * AES_BLOCK_SIZE),
					    _mm256_aesenclast_epi128(b[j],
								     rk2[AES256_ROUND_KEYS - 1]));
	}
	for (; nblocks >= 2; nblocks -= 2, out += 2 * AES_BLOCK_SIZE) {
		_mm256_storeu_si256((__m256i *)(void *)out,
				    encrypt2(rk2, _mm256_shuffle_epi8(ctr2, swap2)));
		ctr2 = _mm256_add_epi32(ctr2, two);
	}
	if (nblocks) {
		ctr = _mm256_castsi256_si128(ctr2);
		_mm_storeu_si128((__m128i *)(void *)out,
				 aes256_encrypt_block(rk, _mm_shuffle_epi8(ctr, swap)));
	}
	chacha20_wipe(rk, sizeof(rk));
	chacha20_wipe(rk2, sizeof(rk2));
	_mm256_zeroall();
}

void aes256ctr_vaes(uint8_t *out, const uint8_t key[AES256_KEY_SIZE],
		    const uint8_t iv[AES_BLOCK_SIZE], size_t nblocks)
{
	aes256ctr_vaes_work(out, key, iv, nblocks);
	aes_scrub_stack();
}
