/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The slot pool: fork-wiped, never-dumped memory carved into per-thread slots, without a lock.
 *
 * Chunks of CHUNK_SLOTS slots are mapped on demand and never unmapped. Which slots of a
 * chunk belong to a thread is one 64-bit word per chunk, claimed and released with atomic
 * operations; the words live in ordinary memory, not in the chunks, so a wiped chunk never
 * corrupts the pool. Nothing here takes a lock, allocates with malloc or waits, so the first
 * request of a thread may come from a signal handler, and a fork at any moment leaves a child
 * that can allocate (slots of the parent's other threads merely stay taken in the child).
 *
 * A thread's slot goes back to the pool from the destructor of the pool's pthread key.
 * Destructors of keys created later run after it and may still draw: slot_tls is cleared
 * before the slot is wiped and released, and the thread is marked as exiting, so those draws
 * are served by the kernel and never reach a slot that another thread may have been given.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "guard.h"
#include "missing.h"
#include "state.h"

enum {
	CHUNK_SLOTS	= 64,		/* one bit each in struct chunk.used */
	CHUNK_SIZE	= CHUNK_SLOTS * SLOT_SIZE,
	CHUNKS_MAX	= 1024,		/* 65536 threads with a slot; then the kernel */
};

struct slot {
	unsigned char bytes[SLOT_SIZE];
};

struct chunk {
	struct slot *slots;	/* NULL until mapped; published with release order */
	uint64_t used;		/* bit n: slots[n] belongs to a thread */
};

__thread struct slot *slot_tls __attribute__((tls_model("initial-exec")));
/* Where slot_tls points: chunk * CHUNK_SLOTS + bit, for the release. */
static __thread unsigned int tls_index __attribute__((tls_model("initial-exec")));
/* The thread is exiting: its slot went back to the pool and it gets no other. */
static __thread unsigned char tls_exited __attribute__((tls_model("initial-exec")));

static unsigned int pool_once;
static pthread_key_t pool_key;
static bool pool_key_ok;
static enum state_memory pool_memory = STATE_MEMORY_NONE;
static enum state_memory forced_memory = STATE_MEMORY_NONE;
static struct chunk chunks[CHUNKS_MAX];
static unsigned int chunks_taken;	/* entries handed to a thread that maps them */

static void *map_chunk(enum state_memory m)
{
	void *p;

	if (m == STATE_MEMORY_DROPPABLE) {
		p = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS,
			 -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	p = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (m == STATE_MEMORY_UNSAFE_TEST_ONLY)
		return p;
	/* Both are required: without wipe-on-fork a child would replay the parent. */
	if (madvise(p, CHUNK_SIZE, MADV_WIPEONFORK) < 0 ||
	    madvise(p, CHUNK_SIZE, MADV_DONTDUMP) < 0) {
		munmap(p, CHUNK_SIZE);
		return NULL;
	}
	return p;
}

/* The pool key's destructor: runs once per thread that had a slot, when it exits. */
static void slot_release(void *unused)
{
	bool entered = guard_enter();
	struct slot *s = slot_tls;
	unsigned int i = tls_index;

	(void)unused;
	/* Later destructors that draw are served by the kernel, never by a new slot. */
	tls_exited = 1;
	if (s) {
		/*
		 * Unreachable from this thread before it is wiped, and wiped before another
		 * thread can claim it: the release below publishes the zeroes with the bit.
		 */
		slot_tls = NULL;
		barrier();
		explicit_bzero(s, sizeof(*s));
		__atomic_fetch_and(&chunks[i / CHUNK_SLOTS].used, ~(1ull << (i % CHUNK_SLOTS)),
				   __ATOMIC_RELEASE);
	}
	guard_leave_if(entered);
}

static bool pool_init(void)
{
	void *probe;

	/* Lock-free in glibc; a failure leaves the engine off (no way to give slots back). */
	pool_key_ok = pthread_key_create(&pool_key, slot_release) == 0;

#ifdef SNAPSAFE_TEST_STATE_WIPEONFORK
	/*
	 * The CRIU tests' variant only (never installed): CRIU restores wipe-on-fork pages with
	 * their content but not droppable ones, and the tests need a state that survives.
	 */
	if (forced_memory == STATE_MEMORY_NONE)
		forced_memory = STATE_MEMORY_WIPEONFORK;
#endif
	if (forced_memory != STATE_MEMORY_NONE) {
		probe = map_chunk(forced_memory);
		if (probe) {
			munmap(probe, CHUNK_SIZE);
			pool_memory = forced_memory;
		}
		return true;
	}
	/* Detect at run time: kernels before 6.11 reject the MAP_DROPPABLE type. */
	probe = map_chunk(STATE_MEMORY_DROPPABLE);
	if (probe) {
		munmap(probe, CHUNK_SIZE);
		pool_memory = STATE_MEMORY_DROPPABLE;
		return true;
	}
	probe = map_chunk(STATE_MEMORY_WIPEONFORK);
	if (probe) {
		munmap(probe, CHUNK_SIZE);
		pool_memory = STATE_MEMORY_WIPEONFORK;
	}
	return true;
}

bool state_pool_init(void)
{
	return once_run(&pool_once, pool_init);
}

enum state_memory state_pool_memory(void)
{
	return state_pool_init() ? pool_memory : STATE_MEMORY_NONE;
}

bool state_pool_wipes_on_fork(void)
{
	return state_pool_memory() != STATE_MEMORY_NONE;
}

const char *state_memory_name(enum state_memory m)
{
	switch (m) {
	case STATE_MEMORY_DROPPABLE:
		return "droppable";
	case STATE_MEMORY_WIPEONFORK:
		return "wipeonfork";
	case STATE_MEMORY_UNSAFE_TEST_ONLY:
		return "unsafe-test-only";
	default:
		return "none";
	}
}

void state_pool_force_memory(enum state_memory m)
{
	forced_memory = m;
}

/* Take a free slot of chunk @c, if it is mapped and has one. */
static struct slot *chunk_claim(unsigned int c, unsigned int *ret_index)
{
	struct slot *base = __atomic_load_n(&chunks[c].slots, __ATOMIC_ACQUIRE);
	uint64_t used;

	if (!base)
		return NULL;
	used = __atomic_load_n(&chunks[c].used, __ATOMIC_RELAXED);
	while (~used) {
		unsigned int bit = (unsigned int)__builtin_ctzll(~used);

		/* Acquire: pairs with the release that gave the slot back, wiped. */
		if (__atomic_compare_exchange_n(&chunks[c].used, &used, used | 1ull << bit, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			*ret_index = c * CHUNK_SLOTS + bit;
			return &base[bit];
		}
	}
	return NULL;
}

/* Map one more chunk and take its first slot. Two threads may grow at once: both chunks stay. */
static struct slot *pool_grow(unsigned int *ret_index)
{
	unsigned int c = __atomic_load_n(&chunks_taken, __ATOMIC_RELAXED);
	struct slot *base;

	do {
		if (c >= CHUNKS_MAX)
			return NULL;
	} while (!__atomic_compare_exchange_n(&chunks_taken, &c, c + 1, false, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	/* A failed map leaves entry c empty for good: scanners skip it. */
	base = map_chunk(pool_memory);
	if (!base)
		return NULL;
	__atomic_store_n(&chunks[c].used, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&chunks[c].slots, base, __ATOMIC_RELEASE);
	*ret_index = c * CHUNK_SLOTS;
	return base;
}

static struct slot *slot_alloc(void)
{
	unsigned int n, i = 0;
	struct slot *s = NULL;

	if (tls_exited || !state_pool_wipes_on_fork() || !pool_key_ok)
		return NULL;
	n = __atomic_load_n(&chunks_taken, __ATOMIC_RELAXED);
	for (unsigned int c = 0; c < n && c < CHUNKS_MAX && !s; c++)
		s = chunk_claim(c, &i);
	if (!s)
		s = pool_grow(&i);
	if (!s)
		return NULL;
	/*
	 * The key's value is what makes glibc call slot_release() at thread exit. A key below
	 * PTHREAD_KEY_2NDLEVEL_SIZE (32) is stored without allocating; glibc allocates for
	 * keys above it, once per thread (docs/api.md says so).
	 */
	if (pthread_setspecific(pool_key, s) != 0) {
		__atomic_fetch_and(&chunks[i / CHUNK_SLOTS].used, ~(1ull << (i % CHUNK_SLOTS)),
				   __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n((uintptr_t *)(void *)(s->bytes + SLOT_OWNER_OFFSET), slot_owner_token(),
			 __ATOMIC_RELAXED);
	tls_index = i;
	barrier();
	slot_tls = s;
	return s;
}

struct slot *slot_get(void)
{
	struct slot *s = slot_tls;

	if (likely(s != NULL))
		return s;
	return slot_alloc();
}
