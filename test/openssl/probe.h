/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the probe module (probe.c) counts, as the C test reads it with dlsym().
 */
#ifndef SNAPSAFE_TEST_OPENSSL_PROBE_H
#define SNAPSAFE_TEST_OPENSSL_PROBE_H

#include <stdint.h>

struct probe_counts {
	uint64_t calls;			/* snapsafe_getrandom() calls by the provider */
	uint64_t flagged_calls;		/* of those, with flags (GRND_RANDOM: prediction resistance) */
	uint64_t bytes;			/* bytes they returned */
	uint64_t failures;		/* calls that returned -1 */
	uint64_t random_provider_calls;	/* OpenSSL 3.5's random_bytes entry */
	uint64_t thread_reseeds;	/* this thread's engine seeds (internal counter) */
	uint64_t thread_engine_requests; /* requests the engine's full path served, this thread */
};

typedef void probe_fn(struct probe_counts *ret);

/* Exported by the probe module (probe.c). */
void snapsafe_provider_probe(struct probe_counts *ret);
void snapsafe_provider_probe_unsafe_memory(void);

#endif
