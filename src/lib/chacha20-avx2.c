/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function with AVX2: 8 blocks at once, one block per 32-bit lane.
 * Register i holds state word i of all 8 blocks, so a quarter round is vertical
 * adds and xors; the 16- and 8-bit rotates are byte shuffles (VPSHUFB), the 12- and
 * 7-bit ones shift, shift and or. At the end the 8x16 word matrix is transposed
 * (unpack within 128-bit lanes, then VPERM2I128) into two 32-byte halves per
 * block, written with unaligned stores.
 *
 * A tail of fewer than 8 blocks runs one more 8-lane batch and stores only the
 * blocks asked for, except a single block, which the portable code does faster.
 * Built with -mavx2 only; chacha20.c calls it only when cpu_has_avx2().
 *
 * Key material: 16 YMM registers cannot hold the 16 state rows plus temporaries,
 * so the compiler spills some of the state (from which the key could be computed)
 * to the stack. The work therefore runs in its own frame and the same stack depth
 * is overwritten afterwards (chacha20_scrub_stack()). That is best effort: it
 * relies on the worker's frame being smaller than the scrubbed area, which holds
 * for GCC and Clang at any optimisation level we build with. The YMM registers
 * are cleared at the end (VZEROALL).
 */
#include <immintrin.h>
#include <string.h>

#include "chacha20.h"
#include "chacha20-wipe.h"

enum {
	LANES		= 8,
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

static inline __m256i rotl16(__m256i v)
{
	const __m256i m = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
					   2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);

	return _mm256_shuffle_epi8(v, m);
}

static inline __m256i rotl8(__m256i v)
{
	const __m256i m = _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
					   3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);

	return _mm256_shuffle_epi8(v, m);
}

static inline __m256i rotl12(__m256i v)
{
	return _mm256_or_si256(_mm256_slli_epi32(v, 12), _mm256_srli_epi32(v, 20));
}

static inline __m256i rotl7(__m256i v)
{
	return _mm256_or_si256(_mm256_slli_epi32(v, 7), _mm256_srli_epi32(v, 25));
}

/*
 * Two quarter rounds side by side. Four (as in the AVX-512 code) would give more
 * independent work, but with 16 registers GCC then spills about twice as much:
 * measured 0.80 against 0.95 cycles per byte.
 */
#define STEP2(a0, b0, d0, a1, b1, d1, rot) do {						\
		a0 = _mm256_add_epi32(a0, b0); a1 = _mm256_add_epi32(a1, b1);		\
		d0 = rot(_mm256_xor_si256(d0, a0)); d1 = rot(_mm256_xor_si256(d1, a1));	\
	} while (0)

#define QUARTERROUND2(a0, b0, c0, d0, a1, b1, c1, d1) do {				\
		STEP2(a0, b0, d0, a1, b1, d1, rotl16);					\
		STEP2(c0, d0, b0, c1, d1, b1, rotl12);					\
		STEP2(a0, b0, d0, a1, b1, d1, rotl8);					\
		STEP2(c0, d0, b0, c1, d1, b1, rotl7);					\
	} while (0)

/* Within 128-bit lanes: lane k of r_j becomes words w..w+3 of block 4k + j. */
#define TRANSPOSE4(a, b, c, d, r0, r1, r2, r3) do {					\
		__m256i t0 = _mm256_unpacklo_epi32(a, b), t1 = _mm256_unpackhi_epi32(a, b); \
		__m256i t2 = _mm256_unpacklo_epi32(c, d), t3 = _mm256_unpackhi_epi32(c, d); \
		r0 = _mm256_unpacklo_epi64(t0, t2); r1 = _mm256_unpackhi_epi64(t0, t2);	\
		r2 = _mm256_unpacklo_epi64(t1, t3); r3 = _mm256_unpackhi_epi64(t1, t3);	\
	} while (0)

/* Blocks j and 4 + j from the four word groups g0..g3 (words 0-3, ..., 12-15). */
static inline __attribute__((always_inline))
void store2(uint8_t *out, __m256i g0, __m256i g1, __m256i g2, __m256i g3, unsigned int j,
	    unsigned int nstore)
{
	if (j < nstore) {
		uint8_t *p = out + 64 * j;

		_mm256_storeu_si256((__m256i *)p, _mm256_permute2x128_si256(g0, g1, 0x20));
		_mm256_storeu_si256((__m256i *)(p + 32), _mm256_permute2x128_si256(g2, g3, 0x20));
	}
	if (j + 4 < nstore) {
		uint8_t *p = out + 64 * (j + 4);

		_mm256_storeu_si256((__m256i *)p, _mm256_permute2x128_si256(g0, g1, 0x31));
		_mm256_storeu_si256((__m256i *)(p + 32), _mm256_permute2x128_si256(g2, g3, 0x31));
	}
}

/* 8 blocks from 64-bit counter @ctr; the first @nstore of them are written. */
static inline __attribute__((always_inline))
void chacha20_8(uint8_t *out, const uint32_t key[8], const uint32_t iv[4], uint64_t ctr,
		unsigned int nstore)
{
	const __m256i sign = _mm256_set1_epi32((int)0x80000000);
	const __m256i lo = _mm256_set1_epi32((int)(uint32_t)ctr);
	const __m256i s12 = _mm256_add_epi32(lo, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	/*
	 * A lane whose low word wrapped (s12 < lo unsigned; AVX2 only compares signed,
	 * hence the sign flips) adds 1 to word 13: the mask is -1 there.
	 */
	const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, sign),
						 _mm256_xor_si256(s12, sign));
	const __m256i s13 = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(ctr >> 32)), carry);
	const uint32_t *c = launder(sigma), *k = launder(key), *n = launder(iv);
	__m256i x0 = _mm256_set1_epi32((int)c[0]), x1 = _mm256_set1_epi32((int)c[1]);
	__m256i x2 = _mm256_set1_epi32((int)c[2]), x3 = _mm256_set1_epi32((int)c[3]);
	__m256i x4 = _mm256_set1_epi32((int)k[0]), x5 = _mm256_set1_epi32((int)k[1]);
	__m256i x6 = _mm256_set1_epi32((int)k[2]), x7 = _mm256_set1_epi32((int)k[3]);
	__m256i x8 = _mm256_set1_epi32((int)k[4]), x9 = _mm256_set1_epi32((int)k[5]);
	__m256i x10 = _mm256_set1_epi32((int)k[6]), x11 = _mm256_set1_epi32((int)k[7]);
	__m256i x12 = s12, x13 = s13;
	__m256i x14 = _mm256_set1_epi32((int)n[2]), x15 = _mm256_set1_epi32((int)n[3]);
	__m256i a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;

	for (int i = 0; i < 10; i++) {
		QUARTERROUND2(x0, x4, x8, x12, x1, x5, x9, x13);	/* columns */
		QUARTERROUND2(x2, x6, x10, x14, x3, x7, x11, x15);
		QUARTERROUND2(x0, x5, x10, x15, x1, x6, x11, x12);	/* diagonals */
		QUARTERROUND2(x2, x7, x8, x13, x3, x4, x9, x14);
	}

	c = launder(sigma);
	k = launder(key);
	n = launder(iv);
	x0 = _mm256_add_epi32(x0, _mm256_set1_epi32((int)c[0]));
	x1 = _mm256_add_epi32(x1, _mm256_set1_epi32((int)c[1]));
	x2 = _mm256_add_epi32(x2, _mm256_set1_epi32((int)c[2]));
	x3 = _mm256_add_epi32(x3, _mm256_set1_epi32((int)c[3]));
	x4 = _mm256_add_epi32(x4, _mm256_set1_epi32((int)k[0]));
	x5 = _mm256_add_epi32(x5, _mm256_set1_epi32((int)k[1]));
	x6 = _mm256_add_epi32(x6, _mm256_set1_epi32((int)k[2]));
	x7 = _mm256_add_epi32(x7, _mm256_set1_epi32((int)k[3]));
	x8 = _mm256_add_epi32(x8, _mm256_set1_epi32((int)k[4]));
	x9 = _mm256_add_epi32(x9, _mm256_set1_epi32((int)k[5]));
	x10 = _mm256_add_epi32(x10, _mm256_set1_epi32((int)k[6]));
	x11 = _mm256_add_epi32(x11, _mm256_set1_epi32((int)k[7]));
	x12 = _mm256_add_epi32(x12, s12);
	x13 = _mm256_add_epi32(x13, s13);
	x14 = _mm256_add_epi32(x14, _mm256_set1_epi32((int)n[2]));
	x15 = _mm256_add_epi32(x15, _mm256_set1_epi32((int)n[3]));

	TRANSPOSE4(x0, x1, x2, x3, a0, a1, a2, a3);
	TRANSPOSE4(x4, x5, x6, x7, b0, b1, b2, b3);
	TRANSPOSE4(x8, x9, x10, x11, c0, c1, c2, c3);
	TRANSPOSE4(x12, x13, x14, x15, d0, d1, d2, d3);

	store2(out, a0, b0, c0, d0, 0, nstore);
	store2(out, a1, b1, c1, d1, 1, nstore);
	store2(out, a2, b2, c2, d2, 2, nstore);
	store2(out, a3, b3, c3, d3, 3, nstore);
}

/*
 * The state is in YMM registers at the end; VZEROALL clears all 16 before anything
 * (a signal frame, the dynamic linker) saves them, and also avoids the penalty of
 * dirty upper halves in later SSE code.
 */
static inline void wipe_vector_registers(void)
{
	_mm256_zeroall();
}

static __attribute__((noinline))
void chacha20_avx2_work(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			size_t nblocks)
{
	uint64_t ctr = (uint64_t)iv[1] << 32 | iv[0];

	for (; nblocks >= LANES; nblocks -= LANES, out += LANES * CHACHA20_BLOCK_SIZE) {
		chacha20_8(out, key, iv, ctr, LANES);
		ctr += LANES;
	}
	if (nblocks == 1) {
		const uint32_t tail_iv[4] = { (uint32_t)ctr, (uint32_t)(ctr >> 32), iv[2], iv[3] };

		chacha20_blocks_portable(out, key, tail_iv, 1);
	} else if (nblocks) {
		chacha20_8(out, key, iv, ctr, (unsigned int)nblocks);
	}
	wipe_vector_registers();
}

void chacha20_blocks_avx2(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			  size_t nblocks)
{
	/* One block alone: the portable code is faster and wipes after itself. */
	if (nblocks <= 1) {
		chacha20_blocks_portable(out, key, iv, nblocks);
		return;
	}
	chacha20_avx2_work(out, key, iv, nblocks);
	chacha20_scrub_stack();
}
