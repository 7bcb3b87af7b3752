/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RDSEED / RDRAND (see hwrng.h). RDSEED draws from the conditioned entropy source and may
 * run dry for a moment under load: a few tries, then RDRAND (a DRBG the CPU reseeds from
 * that source), whose failures are rare and transient: ten tries, as Intel advises. An
 * instruction that still fails is treated as absent for this request.
 *
 * A test build (SNAPSAFE_TEST_NO_HWRNG) compiles the instructions out: the VM clone tests'
 * negative control, to show that without this input clones do repeat. No run-time switch
 * exists: a release build always uses them.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "hwrng.h"

enum {
	RDSEED_TRIES	= 8,
	RDRAND_TRIES	= 10,
};

#if (defined(__x86_64__)) && !defined(SNAPSAFE_TEST_NO_HWRNG)

/* 0: not checked yet; 1: RDSEED; 2: RDRAND only; 3: none. Every thread finds the same. */
static unsigned char kind;

static unsigned char detect(void)
{
	unsigned char k = __atomic_load_n(&kind, __ATOMIC_RELAXED);

	if (k)
		return k;
	k = cpu_has_rdseed() ? 1 : cpu_has_rdrand() ? 2 : 3;
	__atomic_store_n(&kind, k, __ATOMIC_RELAXED);
	return k;
}

static bool rdseed64(uint64_t *v)
{
	unsigned char ok;

	__asm__ __volatile__("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

static bool rdrand64(uint64_t *v)
{
	unsigned char ok;

	__asm__ __volatile__("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

static bool one(unsigned char k, uint64_t *v)
{
	if (k == 1)
		for (int i = 0; i < RDSEED_TRIES; i++)
			if (rdseed64(v))
				return true;
	/* CPUs with RDSEED have RDRAND too. */
	for (int i = 0; i < RDRAND_TRIES; i++)
		if (rdrand64(v))
			return true;
	return false;
}

bool hwrng_available(void)
{
	return detect() != 3;
}

int hwrng_fill(void *buf, size_t len)
{
	unsigned char k = detect();
	uint8_t *p = buf;

	if (k == 3)
		return -ENODEV;
	for (size_t off = 0; off + 8 <= len; off += 8) {
		uint64_t v;

		if (!one(k, &v))
			return -EIO;
		memcpy(p + off, &v, 8);
	}
	return 0;
}

#else

bool hwrng_available(void)
{
	return false;
}

int hwrng_fill(void *buf, size_t len)
{
	(void)buf;
	(void)len;
	return -ENODEV;
}

#endif
