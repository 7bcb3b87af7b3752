/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * arc4random(), arc4random_buf() and arc4random_uniform() as glibc 2.36 has them: they never
 * fail (the process is aborted when the kernel refuses every way to its generator), errno is
 * left alone, none is a cancellation point, and arc4random_uniform() is unbiased and returns 0
 * for bounds below 2.
 *
 * The engine serves, except in a vfork child, and except for a buffer only the kernel should
 * judge: glibc aborts on the EFAULT it gets for one, and so does preload_kernel_fill().
 */
#include <errno.h>
#include <stdlib.h>

#include "preload.h"
#include "snapsafe/snapsafe.h"

static uint32_t kernel_u32(void)
{
	uint32_t v;

	preload_kernel_fill(&v, sizeof(v));
	return v;
}

PRELOAD_EXPORT uint32_t arc4random(void)
{
	int saved = errno, cancel;
	uint32_t v;

	if (preload_kernel_only())
		return kernel_u32();
	cancel = preload_cancel_off();
	v = snapsafe_random_u32();
	preload_cancel_restore(cancel);
	errno = saved;
	return v;
}

PRELOAD_EXPORT void arc4random_buf(void *buf, size_t len)
{
	int saved = errno, cancel;

	if (len == 0)
		return;
	if (preload_kernel_only() || preload_buffer_suspect(buf, len)) {
		preload_kernel_fill(buf, len);
		return;
	}
	cancel = preload_cancel_off();
	snapsafe_random_buf(buf, len);
	preload_cancel_restore(cancel);
	errno = saved;
}

/*
 * A vfork child's bounded draw, from the kernel: values below 2^32 mod @bound are rejected,
 * so that the remainder is uniform.
 */
static uint32_t kernel_uniform(uint32_t bound)
{
	uint32_t min = -bound % bound, v;

	do
		v = kernel_u32();
	while (v < min);
	return v % bound;
}

PRELOAD_EXPORT uint32_t arc4random_uniform(uint32_t upper_bound)
{
	int saved = errno, cancel;
	uint32_t v;

	if (upper_bound < 2)
		return 0;
	if (preload_kernel_only())
		return kernel_uniform(upper_bound);
	cancel = preload_cancel_off();
	v = snapsafe_random_uniform(upper_bound);
	preload_cancel_restore(cancel);
	errno = saved;
	return v;
}
