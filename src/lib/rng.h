/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's per-thread state and the internal entry points that tests and the
 * benchmark use. The public API is in include/snapsafe/snapsafe.h.
 */
#ifndef SNAPSAFE_LIB_RNG_H
#define SNAPSAFE_LIB_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chacha20.h"
#include "sources.h"
#include "state.h"

enum {
	RNG_BATCH_BLOCKS	= 16,
	RNG_BATCH_SIZE		= RNG_BATCH_BLOCKS * CHACHA20_BLOCK_SIZE,
	/* Reseed from the kernel after this much output even if nothing changed. */
	RNG_RESEED_BYTES	= 16u << 20,
	/*
	 * Bulk output (past the batch) of at least this much goes through AES-256-CTR where
	 * the CPU has AES instructions, with a one-time AES key per RNG_AES_CHUNK_BYTES
	 * (SP 800-90A's limit for one CTR_DRBG request, 2^19 bits). docs/rng.md says why.
	 */
	RNG_AES_MIN_BYTES	= 1024,
	RNG_AES_CHUNK_BYTES	= 64u << 10,
};

/*
 * Lives in a slot: wiped on fork, maybe zeroed under memory pressure. All-zero
 * means "not seeded", so `ready` is written only by a reseed, and a request that
 * finds it zero afterwards knows the memory vanished under it. A seeded state has
 * CHACHA20_KEY_SIZE <= pos <= RNG_BATCH_SIZE; anything else is corruption and is
 * never used as an index. pos, ready, owner and the first source word share a cache
 * line with the end of the key, so the hot path touches two lines besides the batch.
 */
struct rng_state {
	uint8_t batch[RNG_BATCH_SIZE];	/* keystream; served bytes are zeroed */
	uint32_t key[8];		/* erased by every refill (fast key erasure) */
	uint32_t pos;			/* next unserved byte of batch */
	uint32_t ready;			/* 1 once seeded; 0 after any wipe */
	uintptr_t owner;		/* slot_owner_token() of the thread; 0 after any wipe */
	uint64_t since_reseed;		/* bytes served from this seed */
	uint64_t seen[SOURCES_MAX];	/* source words when seeded */
};

_Static_assert(offsetof(struct rng_state, owner) == SLOT_OWNER_OFFSET, "owner as in state.c");
_Static_assert(sizeof(struct rng_state) <= SLOT_VDSO_STATE_OFFSET, "rng state fits its slot");

/*
 * For tests: this thread's state (NULL before first use and once the thread's slot went
 * back to the pool at exit), how often it was seeded, how many requests the full engine
 * path served (the small-request fast path is not counted), and how many nested calls
 * went to the kernel.
 */
struct rng_state *rng_current_state(void);
uint64_t rng_thread_reseeds(void);
/*
 * For tests and demos: is this thread's engine seeded now, i.e. did its last request come
 * from the engine (a refused reseed wipes the state, and the kernel serves)?
 */
bool rng_thread_engine_seeded(void);
/* For tests: how many of this thread's seeds mixed in a hardware input (hwrng.h). */
uint64_t rng_thread_hw_mixed_reseeds(void);
uint64_t rng_thread_engine_requests(void);
uint64_t rng_thread_reentrant_calls(void);

#endif
