/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only: a fingerprint of the calling thread's engine state, linked into the observed
 * builds of the shim and of the OpenSSL provider that the retrofit scenario runs in a guest
 * (test/vm/meson.build: the release objects plus this file), never into what is installed.
 * A program finds it with dlsym() and compares it around a draw: a request the engine served
 * moved its position or reseeded it, so the fingerprint changed and is not 0; a request the
 * kernel served left the state as it was, or wiped it (0). That is how a draw line says which
 * path served it, and how the test knows the bytes did not all come from the kernel.
 */
#include <stdint.h>

#include "rng.h"

__attribute__((visibility("default"))) uint64_t vm_engine_fingerprint(void);

/* FNV-1a over what every served request changes (the key, the position, the count). */
uint64_t vm_engine_fingerprint(void)
{
	const struct rng_state *s = rng_current_state();
	uint64_t h = 14695981039346656037u;
	const uint8_t *p;

	if (!s || !s->ready)
		return 0;
	p = (const uint8_t *)s->key;
	for (size_t i = 0; i < sizeof(s->key); i++)
		h = (h ^ p[i]) * 1099511628211u;
	h = (h ^ s->pos) * 1099511628211u;
	h = (h ^ s->since_reseed) * 1099511628211u;
	return h | 1;
}
