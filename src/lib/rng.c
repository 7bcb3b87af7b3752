/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot-safe engine and the random-number API.
 *
 * Sections: the engine (per-thread ChaCha20 with fast key erasure, checked against
 * the generation sources before and after every request), the getrandom-compatible
 * entry point, and the convenience functions built on it.
 *
 * Every doubt goes to the kernel: the policy says no, a nested call from a signal
 * handler, no fork-safe memory, an unknown flag combination, a state that vanished
 * or a source that changed while we worked. The kernel keeps itself safe.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kernel-random.h"
#include "missing.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")

/*
 * Set while this thread is inside the engine. In ordinary memory, not the slot:
 * a zeroed slot must not make a signal handler believe the state is free.
 */
static __thread unsigned char tls_busy __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_reseeds __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_engine_requests __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_reentrant __attribute__((tls_model("initial-exec")));
static __thread struct rng_state *tls_state __attribute__((tls_model("initial-exec")));

static chacha20_blocks_fn *blocks_fn;

struct rng_state *rng_current_state(void)
{
	return tls_state;
}

uint64_t rng_thread_reseeds(void)
{
	return tls_reseeds;
}

uint64_t rng_thread_engine_requests(void)
{
	return tls_engine_requests;
}

uint64_t rng_thread_reentrant_calls(void)
{
	return tls_reentrant;
}

/* Fast key erasure: the first 32 bytes of each batch become the next key. */
static void rng_refill(struct rng_state *s)
{
	static const uint32_t iv[4] = { 0, 0, 0, 0 };

	blocks_fn(s->batch, s->key, iv, RNG_BATCH_BLOCKS);
	memcpy(s->key, s->batch, CHACHA20_KEY_SIZE);
	explicit_bzero(s->batch, CHACHA20_KEY_SIZE);
	s->pos = CHACHA20_KEY_SIZE;
}

/*
 * Seed from the kernel, recording the source words first: a change after the
 * snapshot is caught by the check before returning, whatever the policy read.
 */
static int rng_reseed(struct rng_state *s, unsigned int reseed_flags)
{
	uint64_t seen[SOURCES_MAX];
	uint32_t key[8];
	int r;

	sources_snapshot(seen);
	if (!policy_engine_allowed())
		return 1;
	r = kernel_random_fill(key, sizeof(key), reseed_flags);
	if (r < 0) {
		explicit_bzero(key, sizeof(key));
		return r;
	}
	memcpy(s->key, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	memcpy(s->seen, seen, sizeof(seen));
	s->since_reseed = 0;
	rng_refill(s);
	barrier();
	s->ready = 1;
	tls_reseeds++;
	return 0;
}

static struct rng_state *rng_state_get(void)
{
	struct slot *slot;

	if (likely(tls_state != NULL))
		return tls_state;
	slot = slot_get();
	if (!slot)
		return NULL;
	/* Every thread stores the same pointer; atomic only to keep the race defined. */
	if (!__atomic_load_n(&blocks_fn, __ATOMIC_RELAXED))
		__atomic_store_n(&blocks_fn, chacha20_best(), __ATOMIC_RELAXED);
	sources_init();
	tls_state = slot_rng_state(slot);
	return tls_state;
}

/* Copy out of the batch and zero what was served, so it cannot be served again. */
static void rng_take(struct rng_state *s, uint8_t *out, size_t n)
{
	memcpy(out, s->batch + s->pos, n);
	memset(s->batch + s->pos, 0, n);
	s->pos += (uint32_t)n;
}

static void rng_generate(struct rng_state *s, uint8_t *out, size_t len)
{
	size_t avail = RNG_BATCH_SIZE - s->pos, nblocks;

	if (likely(len <= avail)) {
		rng_take(s, out, len);
		return;
	}
	rng_take(s, out, avail);
	out += avail;
	len -= avail;
	nblocks = len / CHACHA20_BLOCK_SIZE;
	if (nblocks > 0) {
		/*
		 * Bulk output straight into the caller's buffer, from block counter
		 * RNG_BATCH_BLOCKS on: the refill below uses blocks 0..15 of the same
		 * key, so the two never overlap, and the refill erases the key.
		 */
		uint32_t iv[4] = { RNG_BATCH_BLOCKS, 0, 0, 0 };

		blocks_fn(out, s->key, iv, nblocks);
		out += nblocks * CHACHA20_BLOCK_SIZE;
		len -= nblocks * CHACHA20_BLOCK_SIZE;
	}
	rng_refill(s);
	if (len > 0)
		rng_take(s, out, len);
}

bool rng_engine_fill(void *buf, size_t len, unsigned int reseed_flags, int *ret_err)
{
	struct rng_state *s;
	int r;

	*ret_err = 0;
	/* A signal handler that interrupted us on this thread: the kernel serves it. */
	if (unlikely(tls_busy)) {
		tls_reentrant++;
		return false;
	}
	tls_busy = 1;
	barrier();
	s = rng_state_get();
	if (unlikely(!s))
		goto fallback;
	for (;;) {
		if (unlikely(!s->ready || !sources_unchanged(s->seen) ||
			     s->since_reseed >= RNG_RESEED_BYTES)) {
			r = rng_reseed(s, reseed_flags);
			if (r != 0) {
				*ret_err = r < 0 ? r : 0;
				goto fallback;
			}
		}
		rng_generate(s, buf, len);
		s->since_reseed += len;
		barrier();
		/*
		 * Check again before returning: a VM clone, a quiesce or a dropped
		 * page during generation means the output may be shared or zero.
		 * Discard it; the next round reseeds or goes to the kernel, and
		 * overwrites all of buf either way.
		 */
		if (likely(s->ready && sources_unchanged(s->seen)))
			break;
	}
	tls_engine_requests++;
	barrier();
	tls_busy = 0;
	return true;
fallback:
	barrier();
	tls_busy = 0;
	return false;
}

/*
 * The hot path for small requests from a seeded state: no calls but memcpy of a
 * constant-ish size, the same before/after checks as rng_engine_fill(). Anything
 * unusual returns false and the caller takes the full path.
 */
static inline __attribute__((always_inline)) bool rng_fast(void *out, size_t n)
{
	struct rng_state *s = tls_state;

	if (unlikely(!s || tls_busy))
		return false;
	tls_busy = 1;
	barrier();
	if (likely(s->ready && s->pos <= RNG_BATCH_SIZE - n && s->since_reseed < RNG_RESEED_BYTES &&
		   sources_unchanged(s->seen))) {
		memcpy(out, s->batch + s->pos, n);
		memset(s->batch + s->pos, 0, n);
		s->pos += (uint32_t)n;
		s->since_reseed += n;
		barrier();
		if (likely(s->ready && sources_unchanged(s->seen))) {
			barrier();
			tls_busy = 0;
			return true;
		}
	}
	barrier();
	tls_busy = 0;
	return false;
}

/* ---- API ---------------------------------------------------------------- */

static int random_fill(void *buf, size_t len, unsigned int flags)
{
	unsigned int reseed_flags = flags & GRND_NONBLOCK;
	int err;

	if (unlikely(flags & ~(unsigned int)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)))
		return -EINVAL;
	if (unlikely((flags & (GRND_RANDOM | GRND_INSECURE)) == (GRND_RANDOM | GRND_INSECURE)))
		return -EINVAL;
	if (unlikely(len == 0))
		return 0;
	if (likely(flags == 0 && len <= 64) && rng_fast(buf, len))
		return 0;
	/* GRND_RANDOM asks for the kernel's own pool, whatever it costs. */
	if (unlikely(flags & GRND_RANDOM))
		return kernel_random_fill(buf, len, flags);
	if (unlikely(flags & GRND_INSECURE)) {
		/*
		 * Never seed the engine from a pool that may not be ready: a ready
		 * state serves; otherwise the kernel answers this one request.
		 */
		struct rng_state *s = tls_state;

		if (!s || !s->ready)
			return kernel_random_fill(buf, len, flags);
		reseed_flags = GRND_NONBLOCK;
	}
	if (likely(rng_engine_fill(buf, len, reseed_flags, &err)))
		return 0;
	if (err == -EAGAIN && (flags & GRND_INSECURE))
		err = 0;
	if (err)
		return err;
	return kernel_random_fill(buf, len, flags);
}

EXPORT ssize_t snapsafe_getrandom(void *buf, size_t len, unsigned int flags)
{
	int r;

	/* getrandom(2) caps one call like read(2); keep the return in ssize_t range. */
	if (len > (size_t)SSIZE_MAX)
		len = (size_t)SSIZE_MAX;
	r = random_fill(buf, len, flags);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)len;
}

EXPORT void snapsafe_random_buf(void *buf, size_t len)
{
	for (;;) {
		int r = random_fill(buf, len, 0);

		if (r == 0)
			return;
		/* A signal: ask again. */
		if (r == -EINTR || r == -EAGAIN)
			continue;
		/*
		 * The kernel refused every way in (the syscall and the device files), so
		 * there is nothing safe to return and no way to say so: stop here, like
		 * arc4random_buf(), rather than spin for ever or hand out weak bytes.
		 */
		abort();
	}
}

EXPORT uint32_t snapsafe_random_u32(void)
{
	uint32_t v;

	if (likely(rng_fast(&v, sizeof(v))))
		return v;
	snapsafe_random_buf(&v, sizeof(v));
	return v;
}

EXPORT uint64_t snapsafe_random_u64(void)
{
	uint64_t v;

	if (likely(rng_fast(&v, sizeof(v))))
		return v;
	snapsafe_random_buf(&v, sizeof(v));
	return v;
}

EXPORT uint32_t snapsafe_random_uniform(uint32_t upper_bound)
{
	uint64_t m;
	uint32_t low, threshold;

	if (upper_bound < 2)
		return 0;
	/*
	 * Lemire's multiply-and-reject: the high half of x * bound is uniform once
	 * the low half is not below 2^32 mod bound (the values that would bias it).
	 */
	m = (uint64_t)snapsafe_random_u32() * upper_bound;
	low = (uint32_t)m;
	if (low < upper_bound) {
		threshold = -upper_bound % upper_bound;
		while (low < threshold) {
			m = (uint64_t)snapsafe_random_u32() * upper_bound;
			low = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}
