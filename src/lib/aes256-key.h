/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The AES-256 key schedule with AESKEYGENASSIST, shared by the implementations (each
 * is built with its own instruction set, so this is inline, not a function of its own).
 * Round key i (i >= 2) is round key i - 2 with each word xored into the next ones, plus
 * a word derived from round key i - 1: SubWord(RotWord(last word)) ^ rcon for even i,
 * SubWord(last word) for odd i (FIPS 197, 5.2 with Nk = 8).
 */
#ifndef SNAPSAFE_LIB_AES256_KEY_H
#define SNAPSAFE_LIB_AES256_KEY_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

enum {
	AES256_ROUND_KEYS = 15,
	/*
	 * Above the workers' frames (the unrolled loops keep round keys, broadcast copies
	 * and 8 blocks there: about 1.7 KiB for VAES); test/chacha/test-chacha20-stack.c
	 * checks it. A bulk call makes up to 64 KiB, so this costs about 2% of one.
	 */
	AES_SCRUB_BYTES = 4096,
};

static inline __attribute__((always_inline)) __m128i aes256_key_step(__m128i older,
								     __m128i word)
{
	older = _mm_xor_si128(older, _mm_slli_si128(older, 4));
	older = _mm_xor_si128(older, _mm_slli_si128(older, 4));
	older = _mm_xor_si128(older, _mm_slli_si128(older, 4));
	return _mm_xor_si128(older, word);
}

/* AESKEYGENASSIST takes its round constant as an immediate: one macro per step. */
#define AES256_EVEN(rk, i, rcon)							\
	((rk)[i] = aes256_key_step((rk)[(i) - 2], _mm_shuffle_epi32(			\
		_mm_aeskeygenassist_si128((rk)[(i) - 1], (rcon)), 0xff)))
#define AES256_ODD(rk, i)								\
	((rk)[i] = aes256_key_step((rk)[(i) - 2], _mm_shuffle_epi32(			\
		_mm_aeskeygenassist_si128((rk)[(i) - 1], 0), 0xaa)))

static inline __attribute__((always_inline))
void aes256_expand_key(__m128i rk[AES256_ROUND_KEYS], const uint8_t key[32])
{
	rk[0] = _mm_loadu_si128((const __m128i *)(const void *)key);
	rk[1] = _mm_loadu_si128((const __m128i *)(const void *)(key + 16));
	AES256_EVEN(rk, 2, 0x01);
	AES256_ODD(rk, 3);
	AES256_EVEN(rk, 4, 0x02);
	AES256_ODD(rk, 5);
	AES256_EVEN(rk, 6, 0x04);
	AES256_ODD(rk, 7);
	AES256_EVEN(rk, 8, 0x08);
	AES256_ODD(rk, 9);
	AES256_EVEN(rk, 10, 0x10);
	AES256_ODD(rk, 11);
	AES256_EVEN(rk, 12, 0x20);
	AES256_ODD(rk, 13);
	AES256_EVEN(rk, 14, 0x40);
}

/* After a worker that ran in its own (noinline) frame: overwrite the stack it used. */
static __attribute__((noinline, unused)) void aes_scrub_stack(void)
{
	unsigned char buf[AES_SCRUB_BYTES];

	memset(buf, 0, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Swaps the last 4 bytes of a block: the big-endian counter to a native word and back. */
static inline __attribute__((always_inline)) __m128i aes_counter_swap_mask(void)
{
	return _mm_set_epi8(12, 13, 14, 15, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

/* One block through the 14 rounds. */
static inline __attribute__((always_inline))
__m128i aes256_encrypt_block(const __m128i rk[AES256_ROUND_KEYS], __m128i b)
{
	b = _mm_xor_si128(b, rk[0]);
	#pragma GCC unroll 16
	for (int r = 1; r < AES256_ROUND_KEYS - 1; r++)
		b = _mm_aesenc_si128(b, rk[r]);
	return _mm_aesenclast_si128(b, rk[AES256_ROUND_KEYS - 1]);
}

#endif
