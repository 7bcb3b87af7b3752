/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function with SSE2: 4 blocks at once, one block per 32-bit lane.
 * Register i holds state word i of all 4 blocks, so a quarter round is vertical
 * adds and xors; SSE2 has no byte shuffle or rotate, so every rotate is shift,
 * shift and or. At the end each group of four words is transposed (unpack) into
 * 16 bytes of each block and written with unaligned stores.
 *
 * This is the baseline of every x86-64 CPU, for those without AVX2. A tail of
 * fewer than 4 blocks runs one more 4-lane batch and stores only the blocks asked
 * for; a single block goes to the portable code. Built with -msse2 only.
 *
 * Key material: as in the AVX2 code, 16 XMM registers cannot hold the state plus
 * temporaries, so the compiler spills state (from which the key could be
 * computed); the work runs in its own frame and the same stack depth is
 * overwritten afterwards (chacha20_scrub_stack(), best effort), and the XMM
 * registers, which hold the state at the end, are zeroed.
 */
#include <emmintrin.h>
#include <string.h>

#include "chacha20.h"
#include "chacha20-wipe.h"

enum {
	LANES		= 4,
};

static const uint32_t sigma[4] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

/*
 * launder() - hide where @p points from the optimiser, so the key words are loaded
 * again for the final addition instead of being kept alive (and spilled) through
 * the 20 rounds, where the registers are needed for the state.
 */
static inline const uint32_t *launder(const uint32_t *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

#define ROTL(v, n) _mm_or_si128(_mm_slli_epi32(v, n), _mm_srli_epi32(v, 32 - (n)))

/* Two quarter rounds side by side: enough parallel work, little spilling. */
#define STEP2(a0, b0, d0, a1, b1, d1, r) do {						\
		a0 = _mm_add_epi32(a0, b0); a1 = _mm_add_epi32(a1, b1);			\
		d0 = _mm_xor_si128(d0, a0); d1 = _mm_xor_si128(d1, a1);			\
		d0 = ROTL(d0, r); d1 = ROTL(d1, r);					\
	} while (0)

#define QUARTERROUND2(a0, b0, c0, d0, a1, b1, c1, d1) do {				\
		STEP2(a0, b0, d0, a1, b1, d1, 16);					\
		STEP2(c0, d0, b0, c1, d1, b1, 12);					\
		STEP2(a0, b0, d0, a1, b1, d1, 8);					\
		STEP2(c0, d0, b0, c1, d1, b1, 7);					\
	} while (0)

/*
 * Words w..w+3 (registers a..d, one lane per block) to 16 bytes of each block,
 * stored at byte 4w of blocks 0..nstore-1.
 */
static inline __attribute__((always_inline))
void transpose_store(uint8_t *out, __m128i a, __m128i b, __m128i c, __m128i d,
		     unsigned int w, unsigned int nstore)
{
	__m128i t0 = _mm_unpacklo_epi32(a, b), t1 = _mm_unpackhi_epi32(a, b);
	__m128i t2 = _mm_unpacklo_epi32(c, d), t3 = _mm_unpackhi_epi32(c, d);

	out += 4 * w;
	_mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi64(t0, t2));
	if (nstore > 1)
		_mm_storeu_si128((__m128i *)(out + 64), _mm_unpackhi_epi64(t0, t2));
	if (nstore > 2)
		_mm_storeu_si128((__m128i *)(out + 128), _mm_unpacklo_epi64(t1, t3));
	if (nstore > 3)
		_mm_storeu_si128((__m128i *)(out + 192), _mm_unpackhi_epi64(t1, t3));
}

/* 4 blocks from 64-bit counter @ctr; the first @nstore (>= 1) of them are written. */
static inline __attribute__((always_inline))
void chacha20_4(uint8_t *out, const uint32_t key[8], const uint32_t iv[4], uint64_t ctr,
		unsigned int nstore)
{
	const __m128i sign = _mm_set1_epi32((int)0x80000000);
	const __m128i lo = _mm_set1_epi32((int)(uint32_t)ctr);
	const __m128i s12 = _mm_add_epi32(lo, _mm_setr_epi32(0, 1, 2, 3));
	/*
	 * A lane whose low word wrapped (s12 < lo unsigned; SSE2 only compares signed,
	 * hence the sign flips) adds 1 to word 13: the mask is -1 there.
	 */
	const __m128i carry = _mm_cmpgt_epi32(_mm_xor_si128(lo, sign), _mm_xor_si128(s12, sign));
	const __m128i s13 = _mm_sub_epi32(_mm_set1_epi32((int)(uint32_t)(ctr >> 32)), carry);
	const uint32_t *c = launder(sigma), *k = launder(key), *n = launder(iv);
	__m128i x0 = _mm_set1_epi32((int)c[0]), x1 = _mm_set1_epi32((int)c[1]);
	__m128i x2 = _mm_set1_epi32((int)c[2]), x3 = _mm_set1_epi32((int)c[3]);
	__m128i x4 = _mm_set1_epi32((int)k[0]), x5 = _mm_set1_epi32((int)k[1]);
	__m128i x6 = _mm_set1_epi32((int)k[2]), x7 = _mm_set1_epi32((int)k[3]);
	__m128i x8 = _mm_set1_epi32((int)k[4]), x9 = _mm_set1_epi32((int)k[5]);
	__m128i x10 = _mm_set1_epi32((int)k[6]), x11 = _mm_set1_epi32((int)k[7]);
	__m128i x12 = s12, x13 = s13;
	__m128i x14 = _mm_set1_epi32((int)n[2]), x15 = _mm_set1_epi32((int)n[3]);

	for (int i = 0; i < 10; i++) {
		QUARTERROUND2(x0, x4, x8, x12, x1, x5, x9, x13);	/* columns */
		QUARTERROUND2(x2, x6, x10, x14, x3, x7, x11, x15);
		QUARTERROUND2(x0, x5, x10, x15, x1, x6, x11, x12);	/* diagonals */
		QUARTERROUND2(x2, x7, x8, x13, x3, x4, x9, x14);
	}

	c = launder(sigma);
	k = launder(key);
	n = launder(iv);
	x0 = _mm_add_epi32(x0, _mm_set1_epi32((int)c[0]));
	x1 = _mm_add_epi32(x1, _mm_set1_epi32((int)c[1]));
	x2 = _mm_add_epi32(x2, _mm_set1_epi32((int)c[2]));
	x3 = _mm_add_epi32(x3, _mm_set1_epi32((int)c[3]));
	transpose_store(out, x0, x1, x2, x3, 0, nstore);
	x4 = _mm_add_epi32(x4, _mm_set1_epi32((int)k[0]));
	x5 = _mm_add_epi32(x5, _mm_set1_epi32((int)k[1]));
	x6 = _mm_add_epi32(x6, _mm_set1_epi32((int)k[2]));
	x7 = _mm_add_epi32(x7, _mm_set1_epi32((int)k[3]));
	transpose_store(out, x4, x5, x6, x7, 4, nstore);
	x8 = _mm_add_epi32(x8, _mm_set1_epi32((int)k[4]));
	x9 = _mm_add_epi32(x9, _mm_set1_epi32((int)k[5]));
	x10 = _mm_add_epi32(x10, _mm_set1_epi32((int)k[6]));
	x11 = _mm_add_epi32(x11, _mm_set1_epi32((int)k[7]));
	transpose_store(out, x8, x9, x10, x11, 8, nstore);
	x12 = _mm_add_epi32(x12, s12);
	x13 = _mm_add_epi32(x13, s13);
	x14 = _mm_add_epi32(x14, _mm_set1_epi32((int)n[2]));
	x15 = _mm_add_epi32(x15, _mm_set1_epi32((int)n[3]));
	transpose_store(out, x12, x13, x14, x15, 12, nstore);
}

static __attribute__((noinline))
void chacha20_sse2_work(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			size_t nblocks)
{
	uint64_t ctr = (uint64_t)iv[1] << 32 | iv[0];

	for (; nblocks >= LANES; nblocks -= LANES, out += LANES * CHACHA20_BLOCK_SIZE) {
		chacha20_4(out, key, iv, ctr, LANES);
		ctr += LANES;
	}
	if (nblocks == 1) {
		const uint32_t tail_iv[4] = { (uint32_t)ctr, (uint32_t)(ctr >> 32), iv[2], iv[3] };

		chacha20_blocks_portable(out, key, tail_iv, 1);
	} else if (nblocks) {
		chacha20_4(out, key, iv, ctr, (unsigned int)nblocks);
	}
	chacha20_wipe_xmm();
}

void chacha20_blocks_sse2(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			  size_t nblocks)
{
	/* One block alone: the portable code is as fast and wipes after itself. */
	if (nblocks <= 1) {
		chacha20_blocks_portable(out, key, iv, nblocks);
		return;
	}
	chacha20_sse2_work(out, key, iv, nblocks);
	chacha20_scrub_stack();
}
