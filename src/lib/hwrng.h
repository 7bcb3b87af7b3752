/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A per-copy input for reseeds after a VM snapshot restore: the CPU's random-number
 * instruction (RDSEED, else RDRAND, on x86-64; detected with CPUID at run time). Clones of
 * one snapshot run the same memory and, until the guest kernel handles the vmgenid
 * notification, get the same bytes from getrandom(); the CPU's generator is not part of
 * the snapshot, so each clone gets its own. It is only ever MIXED with the kernel's bytes
 * (rng.c): a broken or malicious instruction cannot weaken a good kernel seed.
 */
#ifndef SNAPSAFE_LIB_HWRNG_H
#define SNAPSAFE_LIB_HWRNG_H

#include <stdbool.h>
#include <stddef.h>

/* hwrng_available() - the CPU has RDSEED or RDRAND (and this build uses them). */
bool hwrng_available(void);

/*
 * hwrng_fill() - fill @buf (@len bytes, a multiple of 8) from the instruction, retrying a
 * failing one a bounded number of times. Never blocks, async-signal-safe.
 * Return: 0, -ENODEV when there is no instruction, -EIO when it kept failing.
 */
int hwrng_fill(void *buf, size_t len);

#endif
