/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every ChaCha20 implementation does after its work so that no key material
 * outlives the call: zero named buffers for good, zero the XMM registers, and
 * overwrite the stack depth where the compiler spilled state it could not keep in
 * registers. Inline and private to the implementations; the AVX code adds its own
 * wider register wipe.
 */
#ifndef SNAPSAFE_LIB_CHACHA20_WIPE_H
#define SNAPSAFE_LIB_CHACHA20_WIPE_H

#include <stddef.h>
#include <string.h>

enum {
	/* Above every worker's frame: about 250 (portable), 300 (SSE2), 700 (AVX2) bytes. */
	CHACHA20_SCRUB_BYTES = 1024,
};

/*
 * chacha20_wipe() - zero @len bytes at @p for good: the empty asm tells the compiler
 * the zeros are read, so the stores to a dying buffer are not removed. Inline, unlike
 * explicit_bzero(): a first call through the PLT would have the dynamic linker save
 * every vector register, key words included, deep on the stack.
 */
static inline void chacha20_wipe(void *p, size_t len)
{
	memset(p, 0, len);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * chacha20_wipe_xmm() - zero XMM0-15. Anything that saves them later (a signal frame,
 * the dynamic linker) would otherwise write state words to memory.
 */
static inline void chacha20_wipe_xmm(void)
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

/*
 * chacha20_scrub_stack() - called right after a worker that ran in its own frame
 * (noinline) returned: the same stack depth is overwritten. Best effort: it relies on
 * the worker's frame being smaller than CHACHA20_SCRUB_BYTES, which
 * test/chacha/test-chacha20-stack.c checks for every implementation.
 */
static __attribute__((noinline, unused)) void chacha20_scrub_stack(void)
{
	unsigned char buf[CHACHA20_SCRUB_BYTES];

	chacha20_wipe(buf, sizeof(buf));
}

#endif
