/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU feature detection with CPUID and XGETBV. A CPUID flag alone is not enough
 * for AVX or AVX-512: the instructions fault (#UD) unless the kernel has enabled
 * the matching register state in XCR0, which it may not do (a hypervisor can hide
 * it, a kernel may be booted with it disabled). So each AVX check also reads XCR0,
 * and only after CPUID says OSXSAVE is on, since XGETBV itself faults otherwise.
 * The answers never change while the process runs; callers cache what they need.
 */
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdint.h>

enum {
	/* CPUID leaf 1 */
	CPUID1_EDX_SSE2		= 1u << 26,
	CPUID1_ECX_SSSE3	= 1u << 9,
	CPUID1_ECX_AESNI	= 1u << 25,
	CPUID1_ECX_OSXSAVE	= 1u << 27,
	CPUID1_ECX_AVX		= 1u << 28,
	CPUID1_ECX_RDRAND	= 1u << 30,
	/* CPUID leaf 7, subleaf 0 */
	CPUID7_EBX_AVX2		= 1u << 5,
	CPUID7_EBX_AVX512F	= 1u << 16,
	CPUID7_EBX_RDSEED	= 1u << 18,
	CPUID7_ECX_VAES		= 1u << 9,
	/* XCR0 state components */
	XCR0_SSE		= 1u << 1,
	XCR0_AVX		= 1u << 2,
	XCR0_OPMASK		= 1u << 5,
	XCR0_ZMM_HI256		= 1u << 6,
	XCR0_HI16_ZMM		= 1u << 7,
};

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	/* Raw opcode of "xgetbv": assemblers that predate it still accept this. */
	__asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* XCR0 when the OS uses XSAVE (so XGETBV is allowed), else 0: no AVX state at all. */
static uint64_t os_xcr0(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	if (!(c & CPUID1_ECX_OSXSAVE) || !(c & CPUID1_ECX_AVX))
		return 0;
	return xgetbv0();
}

static unsigned int cpuid7_ebx(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return b;
}

static unsigned int cpuid7_ecx(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return c;
}

int cpu_has_sse2(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return !!(d & CPUID1_EDX_SSE2);
}

int cpu_has_avx2(void)
{
	const uint64_t need = XCR0_SSE | XCR0_AVX;

	if ((os_xcr0() & need) != need)
		return 0;
	return !!(cpuid7_ebx() & CPUID7_EBX_AVX2);
}

int cpu_has_avx512f(void)
{
	const uint64_t need = XCR0_SSE | XCR0_AVX | XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM;

	if ((os_xcr0() & need) != need)
		return 0;
	return !!(cpuid7_ebx() & CPUID7_EBX_AVX512F);
}

int cpu_has_aesni(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & (CPUID1_ECX_AESNI | CPUID1_ECX_SSSE3)) == (CPUID1_ECX_AESNI | CPUID1_ECX_SSSE3);
}

int cpu_has_vaes(void)
{
	return cpu_has_aesni() && cpu_has_avx2() && !!(cpuid7_ecx() & CPUID7_ECX_VAES);
}

int cpu_has_rdrand(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return !!(c & CPUID1_ECX_RDRAND);
}

int cpu_has_rdseed(void)
{
	return !!(cpuid7_ebx() & CPUID7_EBX_RDSEED);
}

#else

int cpu_has_sse2(void)
{
	return 0;
}

int cpu_has_avx2(void)
{
	return 0;
}

int cpu_has_avx512f(void)
{
	return 0;
}

int cpu_has_aesni(void)
{
	return 0;
}

int cpu_has_vaes(void)
{
	return 0;
}

int cpu_has_rdrand(void)
{
	return 0;
}

int cpu_has_rdseed(void)
{
	return 0;
}

#endif
