/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function with AVX-512F: 16 blocks at once, one block per 32-bit
 * lane. Register i holds state word i of all 16 blocks, so a quarter round is plain
 * vertical adds, xors and VPROLD rotates, and the whole state stays in 16 of the 32
 * ZMM registers. At the end the 16x16 word matrix is transposed (unpack within
 * 128-bit lanes, then VSHUFI32X4 across them) so each register is one 64-byte
 * block, written with one unaligned store.
 *
 * A tail of fewer than 16 blocks runs one more 16-lane batch and stores only the
 * blocks asked for, except a single block, which the portable code does faster.
 * Built with -mavx512f only; chacha20.c calls it only when cpu_has_avx512f().
 *
 * Key material: the code makes no copy of the key or state in memory, and with 32
 * registers GCC 12 -O2 spills only the two counter rows (checked in the
 * disassembly). All 32 ZMM registers are cleared on return. A one-block tail goes
 * to the portable code, which wipes its stack copies.
 */
#include <immintrin.h>

#include "chacha20.h"

enum { LANES = 16 };

static const uint32_t sigma[4] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

/*
 * launder() - hide where @p points from the optimiser. Without this, GCC keeps the broadcast
 * key words of the first round alive for the final addition (or hoists them out of
 * the batch loop) and, short of registers, spills them: a copy of the key on the
 * stack that nobody wipes. Laundered pointers force fresh loads (folded into the
 * adds as embedded broadcasts) instead.
 */
static inline const uint32_t *launder(const uint32_t *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* One step of four quarter rounds side by side: a += b; d ^= a; d <<<= r. */
#define STEP(a0, b0, d0, a1, b1, d1, a2, b2, d2, a3, b3, d3, r) do {			\
		a0 = _mm512_add_epi32(a0, b0); a1 = _mm512_add_epi32(a1, b1);		\
		a2 = _mm512_add_epi32(a2, b2); a3 = _mm512_add_epi32(a3, b3);		\
		d0 = _mm512_xor_si512(d0, a0); d1 = _mm512_xor_si512(d1, a1);		\
		d2 = _mm512_xor_si512(d2, a2); d3 = _mm512_xor_si512(d3, a3);		\
		d0 = _mm512_rol_epi32(d0, r); d1 = _mm512_rol_epi32(d1, r);		\
		d2 = _mm512_rol_epi32(d2, r); d3 = _mm512_rol_epi32(d3, r);		\
	} while (0)

/* Four quarter rounds on columns or diagonals (a_i, b_i, c_i, d_i). */
#define QUARTERROUND4(a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3) do { \
		STEP(a0, b0, d0, a1, b1, d1, a2, b2, d2, a3, b3, d3, 16);		\
		STEP(c0, d0, b0, c1, d1, b1, c2, d2, b2, c3, d3, b3, 12);		\
		STEP(a0, b0, d0, a1, b1, d1, a2, b2, d2, a3, b3, d3, 8);		\
		STEP(c0, d0, b0, c1, d1, b1, c2, d2, b2, c3, d3, b3, 7);		\
	} while (0)

/*
 * Transpose within 128-bit lanes: from registers a, b, c, d holding words w..w+3
 * of blocks 0..15, make r0..r3 where 128-bit lane k of r_j is words w..w+3 of
 * block 4k + j.
 */
#define TRANSPOSE4(a, b, c, d, r0, r1, r2, r3) do {					\
		__m512i t0 = _mm512_unpacklo_epi32(a, b), t1 = _mm512_unpackhi_epi32(a, b); \
		__m512i t2 = _mm512_unpacklo_epi32(c, d), t3 = _mm512_unpackhi_epi32(c, d); \
		r0 = _mm512_unpacklo_epi64(t0, t2); r1 = _mm512_unpackhi_epi64(t0, t2);	\
		r2 = _mm512_unpacklo_epi64(t1, t3); r3 = _mm512_unpackhi_epi64(t1, t3);	\
	} while (0)

/*
 * Gather lane k of g0..g3 (words 0-3, 4-7, 8-11, 12-15 of block 4k + j) into one
 * register per block, and store block 4k + j for k = 0..3 if it is wanted.
 */
static inline __attribute__((always_inline))
void store4(uint8_t *out, __m512i g0, __m512i g1, __m512i g2, __m512i g3, unsigned int j,
	    unsigned int nstore)
{
	__m512i a = _mm512_shuffle_i32x4(g0, g1, 0x44);	/* g0.0 g0.1 g1.0 g1.1 */
	__m512i b = _mm512_shuffle_i32x4(g0, g1, 0xee);	/* g0.2 g0.3 g1.2 g1.3 */
	__m512i c = _mm512_shuffle_i32x4(g2, g3, 0x44);
	__m512i d = _mm512_shuffle_i32x4(g2, g3, 0xee);

	if (j < nstore)
		_mm512_storeu_si512(out + 64 * j, _mm512_shuffle_i32x4(a, c, 0x88));
	if (j + 4 < nstore)
		_mm512_storeu_si512(out + 64 * (j + 4), _mm512_shuffle_i32x4(a, c, 0xdd));
	if (j + 8 < nstore)
		_mm512_storeu_si512(out + 64 * (j + 8), _mm512_shuffle_i32x4(b, d, 0x88));
	if (j + 12 < nstore)
		_mm512_storeu_si512(out + 64 * (j + 12), _mm512_shuffle_i32x4(b, d, 0xdd));
}

/* 16 blocks from 64-bit counter @ctr; the first @nstore of them are written. */
static inline __attribute__((always_inline))
void chacha20_16(uint8_t *out, const uint32_t key[8], const uint32_t iv[4], uint64_t ctr,
		 unsigned int nstore)
{
	const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7,
					       8, 9, 10, 11, 12, 13, 14, 15);
	const __m512i lo = _mm512_set1_epi32((int)(uint32_t)ctr);
	/* Word 12 = low + lane; a lane whose low word wrapped adds 1 to word 13. */
	const __m512i s12 = _mm512_add_epi32(lo, lane);
	const __mmask16 carry = _mm512_cmplt_epu32_mask(s12, lo);
	const __m512i hi = _mm512_set1_epi32((int)(uint32_t)(ctr >> 32));
	const __m512i s13 = _mm512_mask_add_epi32(hi, carry, hi, _mm512_set1_epi32(1));
	const uint32_t *c = launder(sigma), *k = launder(key), *n = launder(iv);
	__m512i x0 = _mm512_set1_epi32((int)c[0]), x1 = _mm512_set1_epi32((int)c[1]);
	__m512i x2 = _mm512_set1_epi32((int)c[2]), x3 = _mm512_set1_epi32((int)c[3]);
	__m512i x4 = _mm512_set1_epi32((int)k[0]), x5 = _mm512_set1_epi32((int)k[1]);
	__m512i x6 = _mm512_set1_epi32((int)k[2]), x7 = _mm512_set1_epi32((int)k[3]);
	__m512i x8 = _mm512_set1_epi32((int)k[4]), x9 = _mm512_set1_epi32((int)k[5]);
	__m512i x10 = _mm512_set1_epi32((int)k[6]), x11 = _mm512_set1_epi32((int)k[7]);
	__m512i x12 = s12, x13 = s13;
	__m512i x14 = _mm512_set1_epi32((int)n[2]), x15 = _mm512_set1_epi32((int)n[3]);
	__m512i a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;

	for (int i = 0; i < 10; i++) {
		QUARTERROUND4(x0, x4, x8, x12, x1, x5, x9, x13,
			      x2, x6, x10, x14, x3, x7, x11, x15);
		QUARTERROUND4(x0, x5, x10, x15, x1, x6, x11, x12,
			      x2, x7, x8, x13, x3, x4, x9, x14);
	}

	/* Feed-forward: add the input state, loaded again rather than kept live. */
	c = launder(sigma);
	k = launder(key);
	n = launder(iv);
	x0 = _mm512_add_epi32(x0, _mm512_set1_epi32((int)c[0]));
	x1 = _mm512_add_epi32(x1, _mm512_set1_epi32((int)c[1]));
	x2 = _mm512_add_epi32(x2, _mm512_set1_epi32((int)c[2]));
	x3 = _mm512_add_epi32(x3, _mm512_set1_epi32((int)c[3]));
	x4 = _mm512_add_epi32(x4, _mm512_set1_epi32((int)k[0]));
	x5 = _mm512_add_epi32(x5, _mm512_set1_epi32((int)k[1]));
	x6 = _mm512_add_epi32(x6, _mm512_set1_epi32((int)k[2]));
	x7 = _mm512_add_epi32(x7, _mm512_set1_epi32((int)k[3]));
	x8 = _mm512_add_epi32(x8, _mm512_set1_epi32((int)k[4]));
	x9 = _mm512_add_epi32(x9, _mm512_set1_epi32((int)k[5]));
	x10 = _mm512_add_epi32(x10, _mm512_set1_epi32((int)k[6]));
	x11 = _mm512_add_epi32(x11, _mm512_set1_epi32((int)k[7]));
	x12 = _mm512_add_epi32(x12, s12);
	x13 = _mm512_add_epi32(x13, s13);
	x14 = _mm512_add_epi32(x14, _mm512_set1_epi32((int)n[2]));
	x15 = _mm512_add_epi32(x15, _mm512_set1_epi32((int)n[3]));

	TRANSPOSE4(x0, x1, x2, x3, a0, a1, a2, a3);
	TRANSPOSE4(x4, x5, x6, x7, b0, b1, b2, b3);
	TRANSPOSE4(x8, x9, x10, x11, c0, c1, c2, c3);
	TRANSPOSE4(x12, x13, x14, x15, d0, d1, d2, d3);

	store4(out, a0, b0, c0, d0, 0, nstore);
	store4(out, a1, b1, c1, d1, 1, nstore);
	store4(out, a2, b2, c2, d2, 2, nstore);
	store4(out, a3, b3, c3, d3, 3, nstore);
}

/*
 * The state is in ZMM registers at the end; clear all 32 before anything (a signal
 * frame, the dynamic linker) saves them. VZEROALL clears ZMM0-15 (and avoids the
 * penalty of dirty upper halves in later SSE code); ZMM16-31 need explicit zeroing.
 */
static inline void wipe_vector_registers(void)
{
	_mm256_zeroall();
	__asm__ volatile("vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
			 "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
			 "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
			 "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
			 "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
			 "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
			 "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
			 "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31"
			 : : : "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
			   "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

void chacha20_blocks_avx512(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			    size_t nblocks)
{
	uint64_t ctr = (uint64_t)iv[1] << 32 | iv[0];

	for (; nblocks >= LANES; nblocks -= LANES, out += LANES * CHACHA20_BLOCK_SIZE) {
		chacha20_16(out, key, iv, ctr, LANES);
		ctr += LANES;
	}
	if (nblocks == 1) {
		const uint32_t tail_iv[4] = { (uint32_t)ctr, (uint32_t)(ctr >> 32), iv[2], iv[3] };

		chacha20_blocks_portable(out, key, tail_iv, 1);
	} else if (nblocks) {
		chacha20_16(out, key, iv, ctr, (unsigned int)nblocks);
	}
	wipe_vector_registers();
}
