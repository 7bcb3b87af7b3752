/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ChaCha20 block function (RFC 8439 section 2.3) in portable C: the reference the
 * SIMD implementations are tested against, and the fallback on any CPU. One block
 * at a time, with the 64-bit counter in words 12-13 (see chacha20.h). Only the
 * keystream: no XOR with a message, no nonce handling beyond the four iv words.
 */
#include <string.h>

#include "chacha20.h"

enum { SCRUB_BYTES = 512 };

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

/*
 * wipe() - zero @len bytes at @p for good: the empty asm tells the compiler the
 * zeros are read, so the stores to a dying buffer are not removed. Inline, unlike
 * explicit_bzero(): a first call through the PLT would have the dynamic linker
 * save every vector register, key words included, deep on the stack.
 */
static inline void wipe(void *p, size_t len)
{
	memset(p, 0, len);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * GCC copies the key with SSE loads and stores, so XMM registers hold key words
 * after the work; anything that saves them later (a signal frame, the dynamic
 * linker) would write them to memory. Zeroing the 16 XMM registers costs a few
 * cycles. General registers are left to be overwritten by the caller.
 */
static inline void wipe_vector_registers(void)
{
#if defined(__x86_64__) && defined(__SSE2__)
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\t"
			 "pxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
			 "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
			 "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
			 "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
			 "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
			 "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
			 "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15"
			 : : : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			   "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#endif
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
	wipe(s, sizeof(s));
	wipe(x, sizeof(x));
	wipe_vector_registers();
}

/*
 * The compiler also keeps copies the code cannot name: 16 state words do not fit
 * in the general registers, so some are spilled, and GCC 12 stores a copy of
 * key[0..3] beside s[]. The work above therefore has its own frame, and this
 * overwrites the same stack depth once it has returned (its frame is about 250
 * bytes with GCC and Clang at -O2; twice that is scrubbed).
 */
static __attribute__((noinline)) void scrub_stack(void)
{
	unsigned char buf[SCRUB_BYTES];

	wipe(buf, sizeof(buf));
}

void chacha20_blocks_portable(uint8_t *out, const uint32_t key[8], const uint32_t iv[4],
			      size_t nblocks)
{
	if (!nblocks)
		return;
	chacha20_portable_work(out, key, iv, nblocks);
	scrub_stack();
}
