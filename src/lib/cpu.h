/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU feature detection for the run-time choice of the ChaCha20 and AES implementations and
 * of the hardware random input (hwrng.c).
 * Each function answers "may this process execute these instructions now", which
 * needs both the CPU flag and, for AVX and AVX-512, the kernel saving the wider
 * register state (XCR0). Non-x86 builds answer 0 for everything.
 */
#ifndef SNAPSAFE_LIB_CPU_H
#define SNAPSAFE_LIB_CPU_H

/* cpu_has_sse2() - 1 when SSE2 is usable (always on x86-64). */
int cpu_has_sse2(void);

/* cpu_has_avx2() - 1 when AVX2 is usable: CPU flag and the OS saves the YMM state. */
int cpu_has_avx2(void);

/*
 * cpu_has_avx512f() - 1 when AVX-512F is usable: CPU flag and the OS saves the
 * opmask, upper ZMM0-15 and ZMM16-31 state as well as the YMM state.
 */
int cpu_has_avx512f(void);

/* cpu_has_aesni() - 1 when AES-NI (with the SSSE3 byte shuffle its counter code uses) is usable. */
int cpu_has_aesni(void);

/* cpu_has_vaes() - 1 when VAES on YMM registers is usable: AES-NI, AVX2 and the VAES flag. */
int cpu_has_vaes(void);

/* cpu_has_rdrand(), cpu_has_rdseed() - the CPU's random-number instructions (no OS state). */
int cpu_has_rdrand(void);
int cpu_has_rdseed(void);

#endif
