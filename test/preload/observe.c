/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only observation of the shim's engine, linked into libsnapsafe-preload-observed.so
 * (the shim's own objects plus this file) and never into the installed shim, which has no
 * such switch. A test finds these functions with dlsym(RTLD_DEFAULT): the peek shows the bytes
 * the engine will serve next on this thread, so a test can prove that a call's bytes came from
 * the engine (equal to the peek) or not (the peek still there afterwards).
 */
#include <stdint.h>
#include <string.h>

#include "kernel-random.h"
#include "preload.h"
#include "rng.h"

#define OBSERVE	__attribute__((visibility("default")))

OBSERVE int preload_observe_peek(void *out, size_t n);
OBSERVE int preload_observe_has_state(void);
OBSERVE uint64_t preload_observe_nested_calls(void);
OBSERVE unsigned int preload_observe_vfork_depth(void);
OBSERVE void preload_observe_disable_vdso(void);

/* The next @n bytes this thread's engine serves: 0, or -1 when it holds fewer (or no state). */
int preload_observe_peek(void *out, size_t n)
{
	struct rng_state *s = rng_current_state();

	if (!s || !s->ready || s->pos < CHACHA20_KEY_SIZE || s->pos > RNG_BATCH_SIZE ||
	    n > RNG_BATCH_SIZE - s->pos)
		return -1;
	memcpy(out, s->batch + s->pos, n);
	return 0;
}

/* 1 when this thread holds a slot of the shim's engine. */
int preload_observe_has_state(void)
{
	return rng_current_state() != NULL;
}

/* Calls on this thread that found it inside the engine (signal handlers), served by the kernel. */
uint64_t preload_observe_nested_calls(void)
{
	return rng_thread_reentrant_calls();
}

unsigned int preload_observe_vfork_depth(void)
{
	return preload_vfork_depth;
}

/* So that a seccomp filter that refuses the system call leaves the engine no way in. */
void preload_observe_disable_vdso(void)
{
	kernel_random_disable_vdso();
}
