/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe: a test-only build of the provider, from the same sources as snapsafe.so, linked
 * with --wrap so that every call the provider makes to snapsafe_getrandom() and every call
 * OpenSSL 3.5 makes to the random_provider entry pass through the counters below first. It
 * links the internal library, so it also reports how often this thread's engine was seeded.
 * Nothing of this is in the release module; the tests use it to show which path served a
 * request, in a C program (snapsafe_provider_probe(), found with dlsym) and in the openssl
 * command (a report written at exit to $SNAPSAFE_PROVIDER_PROBE_REPORT).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "probe.h"
#include "rng.h"
#include "state.h"

ssize_t __real_snapsafe_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __wrap_snapsafe_getrandom(void *buf, size_t len, unsigned int flags);
int __real_provider_random_bytes(void *provctx, int which, void *buf, size_t n,
				 unsigned int strength);
int __wrap_provider_random_bytes(void *provctx, int which, void *buf, size_t n,
				 unsigned int strength);

static struct probe_counts counts;

ssize_t __wrap_snapsafe_getrandom(void *buf, size_t len, unsigned int flags)
{
	ssize_t r = __real_snapsafe_getrandom(buf, len, flags);

	__atomic_fetch_add(&counts.calls, 1, __ATOMIC_RELAXED);
	if (flags)
		__atomic_fetch_add(&counts.flagged_calls, 1, __ATOMIC_RELAXED);
	if (r > 0)
		__atomic_fetch_add(&counts.bytes, (uint64_t)r, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&counts.failures, 1, __ATOMIC_RELAXED);
	return r;
}

int __wrap_provider_random_bytes(void *provctx, int which, void *buf, size_t n,
				 unsigned int strength)
{
	__atomic_fetch_add(&counts.random_provider_calls, 1, __ATOMIC_RELAXED);
	return __real_provider_random_bytes(provctx, which, buf, n, strength);
}

__attribute__((visibility("default"))) void snapsafe_provider_probe(struct probe_counts *ret)
{
	ret->calls = __atomic_load_n(&counts.calls, __ATOMIC_RELAXED);
	ret->flagged_calls = __atomic_load_n(&counts.flagged_calls, __ATOMIC_RELAXED);
	ret->bytes = __atomic_load_n(&counts.bytes, __ATOMIC_RELAXED);
	ret->failures = __atomic_load_n(&counts.failures, __ATOMIC_RELAXED);
	ret->random_provider_calls = __atomic_load_n(&counts.random_provider_calls,
						     __ATOMIC_RELAXED);
	ret->thread_reseeds = rng_thread_reseeds();
	ret->thread_engine_requests = rng_thread_engine_requests();
}

/* For a program the test cannot link: the counts of the thread that ends the process. */
__attribute__((destructor)) static void probe_report(void)
{
	const char *path = getenv("SNAPSAFE_PROVIDER_PROBE_REPORT");
	struct probe_counts c;
	FILE *f;

	if (!path)
		return;
	snapsafe_provider_probe(&c);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "calls=%llu flagged=%llu bytes=%llu failures=%llu random_provider=%llu "
		"reseeds=%llu\n", (unsigned long long)c.calls, (unsigned long long)c.flagged_calls,
		(unsigned long long)c.bytes, (unsigned long long)c.failures,
		(unsigned long long)c.random_provider_calls,
		(unsigned long long)c.thread_reseeds);
	fclose(f);
}

/* For the negative control, before the first request: the engine's state in plain memory. */
__attribute__((visibility("default"))) void snapsafe_provider_probe_unsafe_memory(void)
{
	state_pool_force_memory(STATE_MEMORY_UNSAFE_TEST_ONLY);
}
