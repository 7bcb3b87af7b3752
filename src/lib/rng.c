/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot-safe engine and the random-number API.
 *
 * Sections: the engine (per-thread ChaCha20 with fast key erasure, checked against
 * the generation sources before and after every request), the getrandom-compatible
 * entry point, and the convenience functions built on it.
 *
 * Every doubt goes to the kernel: the policy says no, a nested call from a signal
 * handler, no fork-safe memory, an unknown flag combination, a state that vanished,
 * a state that another thread owns or whose position is out of range, or a source
 * that changed while we worked. The kernel keeps itself safe.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "aes256ctr.h"
#include "guard.h"
#include "hwrng.h"
#include "kernel-random.h"
#include "macro.h"
#include "missing.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"

static __thread uint64_t tls_reseeds __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_hw_mixed __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_engine_requests __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_reentrant __attribute__((tls_model("initial-exec")));

static chacha20_blocks_fn *blocks_fn;

struct rng_state *rng_current_state(void)
{
	struct slot *slot = slot_current();

	return slot ? slot_rng_state(slot) : NULL;
}

uint64_t rng_thread_reseeds(void)
{
	return tls_reseeds;
}

bool rng_thread_engine_seeded(void)
{
	struct slot *slot = slot_current();

	return slot && ((struct rng_state *)slot_rng_state(slot))->ready;
}

uint64_t rng_thread_hw_mixed_reseeds(void)
{
	return tls_hw_mixed;
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

/* Forget the seed and the batch; the owner stays (the state is still this thread's). */
static void rng_wipe(struct rng_state *s)
{
	explicit_bzero(s, offsetof(struct rng_state, owner));
	s->since_reseed = 0;
}

/*
 * Mix a per-clone hardware input into the kernel's key: the new key is the first half of
 * the ChaCha20 block that the kernel's key makes with the hardware bytes as its counter
 * and nonce. Whatever the hardware gives (a broken or malicious instruction: constants),
 * the key stays as unpredictable as the kernel's; with a working one, clones whose kernels
 * still answer alike (before the guest handled the vmgenid notification) get different keys.
 */
static void rng_mix(uint32_t key[8], const uint32_t hw[4])
{
	uint8_t block[CHACHA20_BLOCK_SIZE];

	blocks_fn(block, key, hw, 1);
	memcpy(key, block, CHACHA20_KEY_SIZE);
	explicit_bzero(block, sizeof(block));
}

/*
 * Seed from the kernel, recording the source words first: a change after the
 * snapshot is caught by the check before returning, whatever the policy read.
 */
static int rng_reseed(struct rng_state *s, unsigned int reseed_flags)
{
	uint64_t seen[SOURCES_MAX];
	uint32_t key[8], hw[4];
	bool hw_ok;
	int r;

	sources_snapshot(seen);
	/* Every seed takes it when the CPU has it: a fresh thread may start in a fresh clone. */
	hw_ok = hwrng_fill(hw, sizeof(hw)) == 0;
	if (!policy_engine_allowed(hw_ok)) {
		/*
		 * Drop the old seed too: while the policy says no, the sources cannot be trusted
		 * to see a clone, so this memory may be in several copies by the time they can.
		 * Once: a state that is not seeded holds nothing to forget.
		 */
		if (s->ready)
			rng_wipe(s);
		explicit_bzero(hw, sizeof(hw));
		return 1;
	}
	r = kernel_random_fill(key, sizeof(key), reseed_flags);
	if (r < 0) {
		explicit_bzero(key, sizeof(key));
		explicit_bzero(hw, sizeof(hw));
		return r;
	}
	if (hw_ok) {
		rng_mix(key, hw);
		explicit_bzero(hw, sizeof(hw));
		tls_hw_mixed++;
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

/* Called with the guard held: may allocate the slot and run one-time initialisation. */
static struct rng_state *rng_state_get(void)
{
	struct slot *slot = slot_get();

	if (!slot)
		return NULL;
	/* Every thread stores the same pointer; atomic only to keep the race defined. */
	if (!__atomic_load_n(&blocks_fn, __ATOMIC_RELAXED))
		__atomic_store_n(&blocks_fn, chacha20_best(), __ATOMIC_RELAXED);
	/* The engine serves only once every source is known: until then, the kernel. */
	if (!sources_init())
		return NULL;
	return slot_rng_state(slot);
}

/*
 * May this thread use @s? Its own, or wiped since it was allocated (fork, memory pressure:
 * the owner reads 0), in which case the thread claims it again. Anything else means that
 * another thread reaches the same state: it is not served, nor touched.
 */
static bool rng_state_mine(struct rng_state *s)
{
	uintptr_t owner = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);

	if (likely(owner == slot_owner_token()))
		return true;
	return owner == 0 &&
	       __atomic_compare_exchange_n(&s->owner, &owner, slot_owner_token(), false,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* A seeded state whose position is outside the batch is corrupt: never an index, reseed. */
static bool rng_state_sane(struct rng_state *s)
{
	uint32_t pos = __atomic_load_n(&s->pos, __ATOMIC_RELAXED);

	if (!s->ready || (pos >= CHACHA20_KEY_SIZE && pos <= RNG_BATCH_SIZE))
		return true;
	rng_wipe(s);
	return false;
}

/* Copy out of the batch at @pos (in range), zeroing what was served: it is never served again. */
static void rng_take(struct rng_state *s, uint32_t pos, uint8_t *out, size_t n)
{
	memcpy(out, s->batch + pos, n);
	memset(s->batch + pos, 0, n);
	s->pos = pos + (uint32_t)n;
}

/*
 * Bulk output through AES-256-CTR (about 4.7 times ChaCha20's speed with AVX2 where the
 * CPU has VAES, docs/rng.md): each RNG_AES_CHUNK_BYTES of @out is the keystream of a one-time AES key, the
 * first half of the ChaCha20 block that the state's key gives at the next counter from
 * @iv, with an all-zero counter block (a key is used once, so no nonce is needed). The
 * refill after this erases the state's key as usual, so fast key erasure still holds:
 * nothing left in memory leads back to what was served.
 */
static void rng_bulk_aes(aes256ctr_fn *aes, struct rng_state *s, uint8_t *out, size_t len,
			 uint32_t iv[4])
{
	static const uint8_t zero_counter[AES_BLOCK_SIZE];
	uint8_t block[CHACHA20_BLOCK_SIZE];

	while (len > 0) {
		size_t n = len < RNG_AES_CHUNK_BYTES ? len : RNG_AES_CHUNK_BYTES;

		blocks_fn(block, s->key, iv, 1);
		if (++iv[0] == 0)
			iv[1]++;
		aes(out, block, zero_counter, n / AES_BLOCK_SIZE);
		out += n;
		len -= n;
	}
	explicit_bzero(block, sizeof(block));
}

static void rng_generate(struct rng_state *s, uint8_t *out, size_t len)
{
	uint32_t pos = __atomic_load_n(&s->pos, __ATOMIC_RELAXED);
	size_t avail, nblocks;

	/*
	 * rng_state_sane() checked it, but this is the load that indexes: out of range here
	 * (only a writer outside the rules could do that) counts as "batch used up", so the
	 * refill below starts a new batch and avail never wraps.
	 */
	if (unlikely(pos < CHACHA20_KEY_SIZE || pos > RNG_BATCH_SIZE))
		pos = RNG_BATCH_SIZE;
	avail = RNG_BATCH_SIZE - pos;

	if (likely(len <= avail)) {
		rng_take(s, pos, out, len);
		return;
	}
	rng_take(s, pos, out, avail);
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
		aes256ctr_fn *aes = aes256ctr_best();

		if (aes && nblocks * CHACHA20_BLOCK_SIZE >= RNG_AES_MIN_BYTES)
			rng_bulk_aes(aes, s, out, nblocks * CHACHA20_BLOCK_SIZE, iv);
		else
			blocks_fn(out, s->key, iv, nblocks);
		out += nblocks * CHACHA20_BLOCK_SIZE;
		len -= nblocks * CHACHA20_BLOCK_SIZE;
	}
	rng_refill(s);
	if (len > 0)
		rng_take(s, CHACHA20_KEY_SIZE, out, len);
}

/*
 * rng_engine_fill() - serve @len bytes from this thread's engine; the guard is held.
 * Return: true when @buf is filled from a state that was valid before and after;
 * false when the kernel must serve (policy, no memory, a state not this thread's or
 * corrupt, reseed failed with -EAGAIN/-EINTR: *ret_err says which, 0 meaning "just
 * ask the kernel").
 */
static bool rng_engine_fill(void *buf, size_t len, unsigned int reseed_flags, int *ret_err)
{
	struct rng_state *s;
	int r;

	*ret_err = 0;
	s = rng_state_get();
	if (unlikely(!s))
		return false;
	for (;;) {
		if (unlikely(!rng_state_mine(s) || !rng_state_sane(s)))
			return false;
		if (unlikely(!s->ready || !sources_unchanged(s->seen) ||
			     s->since_reseed >= RNG_RESEED_BYTES)) {
			r = rng_reseed(s, reseed_flags);
			if (r != 0) {
				*ret_err = r < 0 ? r : 0;
				return false;
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
		if (likely(s->ready && s->owner == slot_owner_token() &&
			   sources_unchanged(s->seen)))
			break;
	}
	tls_engine_requests++;
	return true;
}

/*
 * The hot path for small requests from a seeded state: no calls but memcpy of a
 * constant-ish size, the same before/after checks as rng_engine_fill(). Anything
 * unusual (not this thread's state, a position out of range) returns false and the
 * caller takes the full path.
 */
static inline __attribute__((always_inline)) bool rng_fast(void *out, size_t n)
{
	struct slot *slot = slot_current();
	struct rng_state *s;
	uint32_t pos;

	if (unlikely(!slot || guard_inside))
		return false;
	guard_inside = 1;
	barrier();
	s = slot_rng_state(slot);
	/* One load, checked and then used: pos - KEY_SIZE wraps when pos is below the key. */
	pos = __atomic_load_n(&s->pos, __ATOMIC_RELAXED);
	if (likely(s->ready && s->owner == slot_owner_token() &&
		   pos - CHACHA20_KEY_SIZE <= RNG_BATCH_SIZE - CHACHA20_KEY_SIZE - n &&
		   s->since_reseed < RNG_RESEED_BYTES && sources_unchanged(s->seen))) {
		memcpy(out, s->batch + pos, n);
		memset(s->batch + pos, 0, n);
		s->pos = pos + (uint32_t)n;
		s->since_reseed += n;
		barrier();
		if (likely(s->ready && sources_unchanged(s->seen))) {
			guard_leave();
			return true;
		}
	}
	guard_leave();
	return false;
}

/* ---- API ---------------------------------------------------------------- */

/* The part of a request that runs with the guard held. */
static int random_fill_guarded(void *buf, size_t len, unsigned int flags)
{
	unsigned int reseed_flags = flags & GRND_NONBLOCK;
	int err;

	/* GRND_RANDOM asks for the kernel's own pool, whatever it costs. */
	if (unlikely(flags & GRND_RANDOM))
		return kernel_random_fill(buf, len, flags);
	if (unlikely(flags & GRND_INSECURE)) {
		/*
		 * Never seed the engine from a pool that may not be ready: a ready
		 * state serves; otherwise the kernel answers this one request.
		 */
		struct rng_state *s = rng_current_state();

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

static int random_fill(void *buf, size_t len, unsigned int flags)
{
	int r;

	if (unlikely(flags & ~(unsigned int)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)))
		return -EINVAL;
	if (unlikely((flags & (GRND_RANDOM | GRND_INSECURE)) == (GRND_RANDOM | GRND_INSECURE)))
		return -EINVAL;
	if (unlikely(len == 0))
		return 0;
	if (likely(flags == 0 && len <= 64) && rng_fast(buf, len))
		return 0;
	if (unlikely(!guard_enter())) {
		/*
		 * A signal handler that interrupted the library on this thread: whatever that
		 * call holds (a slot being allocated, an initialisation, fork's handlers) is
		 * not ours to touch or wait for. The system call serves, as it would anyone.
		 */
		int saved = errno;

		tls_reentrant++;
		r = kernel_random_fill_nested(buf, len, flags);
		/* The handler's caller may be looking at errno: leave it as it was. */
		errno = saved;
		return r;
	}
	{
		/* Looking for the daemon's page may set errno; a success must leave it alone. */
		int saved = errno;

		r = random_fill_guarded(buf, len, flags);
		if (r == 0)
			errno = saved;
	}
	guard_leave();
	return r;
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
