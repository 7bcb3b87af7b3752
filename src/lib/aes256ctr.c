/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table of AES-256-CTR implementations and the run-time choice among them, as for
 * ChaCha20 (chacha20.c): chosen once per process from the CPU features, the last
 * supported entry wins. SNAPSAFE_AES=<name> forces a supported one, SNAPSAFE_AES=none
 * none at all (the engine's bulk output is then ChaCha20's: for benchmarks and tests);
 * read with secure_getenv(), so a setuid program ignores it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "aes256ctr.h"
#include "cpu.h"

const struct aes256ctr_impl aes256ctr_impls[] = {
#ifdef SNAPSAFE_HAVE_AESNI
	{ "aesni", aes256ctr_aesni, cpu_has_aesni },
#endif
#ifdef SNAPSAFE_HAVE_VAES
	{ "vaes", aes256ctr_vaes, cpu_has_vaes },
#endif
	{ NULL, NULL, NULL },
};
const size_t aes256ctr_impls_count = sizeof(aes256ctr_impls) / sizeof(aes256ctr_impls[0]) - 1;

static const struct aes256ctr_impl aes256ctr_none = { "none", NULL, NULL };

/* Idempotent like chacha20_get(): racing first calls store the same answer. */
static _Atomic(const struct aes256ctr_impl *) aes256ctr_chosen;

static const struct aes256ctr_impl *aes256ctr_resolve(void)
{
	const struct aes256ctr_impl *best = &aes256ctr_none;
	const char *want = secure_getenv("SNAPSAFE_AES");

	if (want && strcmp(want, "none") == 0)
		return best;
	for (size_t i = 0; i < aes256ctr_impls_count; i++) {
		const struct aes256ctr_impl *impl = &aes256ctr_impls[i];

		if (!impl->supported())
			continue;
		if (want && strcmp(want, impl->name) == 0)
			return impl;
		best = impl;
	}
	return best;
}

static const struct aes256ctr_impl *aes256ctr_get(void)
{
	const struct aes256ctr_impl *impl;

	impl = atomic_load_explicit(&aes256ctr_chosen, memory_order_acquire);
	if (__builtin_expect(impl != NULL, 1))
		return impl;
	impl = aes256ctr_resolve();
	atomic_store_explicit(&aes256ctr_chosen, impl, memory_order_release);
	return impl;
}

aes256ctr_fn *aes256ctr_best(void)
{
	return aes256ctr_get()->blocks;
}

const char *aes256ctr_best_name(void)
{
	return aes256ctr_get()->name;
}
