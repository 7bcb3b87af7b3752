/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table of ChaCha20 implementations and the run-time choice among them.
 *
 * The choice is made once per process, on first use, from the CPU features: the
 * last supported entry of chacha20_impls[] wins (the table is ordered slowest to
 * fastest). Tests and the benchmark can force one with SNAPSAFE_CHACHA=<name>; an
 * unknown or unsupported name is ignored, so the variable can never select code the
 * CPU cannot run. It is read with secure_getenv(): a setuid program ignores it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chacha20.h"
#include "cpu.h"

static int chacha20_portable_supported(void)
{
	return 1;
}

const struct chacha20_impl chacha20_impls[] = {
	{ "portable", chacha20_blocks_portable, chacha20_portable_supported },
#ifdef SNAPSAFE_HAVE_SSE2
	{ "sse2", chacha20_blocks_sse2, cpu_has_sse2 },
#endif
#ifdef SNAPSAFE_HAVE_AVX2
	{ "avx2", chacha20_blocks_avx2, cpu_has_avx2 },
#endif
#ifdef SNAPSAFE_HAVE_AVX512
	{ "avx512", chacha20_blocks_avx512, cpu_has_avx512f },
#endif
};
const size_t chacha20_impls_count = sizeof(chacha20_impls) / sizeof(chacha20_impls[0]);

/*
 * The chosen entry. Resolving is idempotent (same CPU, same environment), so two
 * threads racing on the first call both compute the same answer and store it; no
 * lock or pthread_once is needed, and later calls cost one acquire load.
 */
static _Atomic(const struct chacha20_impl *) chacha20_chosen;

static const struct chacha20_impl *chacha20_resolve(void)
{
	const struct chacha20_impl *best = &chacha20_impls[0];
	const char *want = secure_getenv("SNAPSAFE_CHACHA");

	for (size_t i = 0; i < chacha20_impls_count; i++) {
		const struct chacha20_impl *impl = &chacha20_impls[i];

		if (!impl->supported())
			continue;
		if (want && strcmp(want, impl->name) == 0)
			return impl;
		best = impl;
	}
	return best;
}

static const struct chacha20_impl *chacha20_get(void)
{
	const struct chacha20_impl *impl;

	impl = atomic_load_explicit(&chacha20_chosen, memory_order_acquire);
	if (__builtin_expect(impl != NULL, 1))
		return impl;
	impl = chacha20_resolve();
	atomic_store_explicit(&chacha20_chosen, impl, memory_order_release);
	return impl;
}

chacha20_blocks_fn *chacha20_best(void)
{
	return chacha20_get()->blocks;
}

const char *chacha20_best_name(void)
{
	return chacha20_get()->name;
}
