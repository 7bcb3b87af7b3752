/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The slot pool: fork-wiped, never-dumped memory carved into per-thread slots.
 *
 * The hot path reads the thread's slot through an initial-exec TLS pointer and
 * never takes a lock; the pool's mutex guards only allocation and release, which
 * happen once per thread. The free list lives in ordinary memory, not in the
 * slots, so a wiped slot never corrupts the pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "missing.h"
#include "state.h"

enum { CHUNK_SIZE = 64 * 1024 };

struct slot {
	unsigned char bytes[SLOT_SIZE];
};

static __thread struct slot *tls_slot __attribute__((tls_model("initial-exec")));

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_key_t pool_key;
static bool pool_key_ok;
static enum state_memory pool_memory = STATE_MEMORY_NONE;
static enum state_memory forced_memory = STATE_MEMORY_NONE;
static struct slot **free_slots;
static size_t free_count, free_alloc;

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

static void slot_release(void *p)
{
	struct slot *s = p;

	/* The next owner must not inherit this thread's keys or batch. */
	explicit_bzero(s, sizeof(*s));
	pthread_mutex_lock(&pool_lock);
	if (free_count < free_alloc)
		free_slots[free_count++] = s;
	pthread_mutex_unlock(&pool_lock);
	tls_slot = NULL;
}

/* A fork from another thread may have held the lock: the child gets a fresh one. */
static void pool_atfork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
}

static void pool_atfork_prepare(void)
{
	pthread_mutex_lock(&pool_lock);
}

static void pool_atfork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
}

static void pool_init(void)
{
	void *probe;

	pool_key_ok = pthread_key_create(&pool_key, slot_release) == 0;
	pthread_atfork(pool_atfork_prepare, pool_atfork_parent, pool_atfork_child);

	if (forced_memory != STATE_MEMORY_NONE) {
		probe = map_chunk(forced_memory);
		if (probe) {
			munmap(probe, CHUNK_SIZE);
			pool_memory = forced_memory;
		}
		return;
	}
	/* Detect at run time: kernels before 6.11 reject the MAP_DROPPABLE type. */
	probe = map_chunk(STATE_MEMORY_DROPPABLE);
	if (probe) {
		munmap(probe, CHUNK_SIZE);
		pool_memory = STATE_MEMORY_DROPPABLE;
		return;
	}
	probe = map_chunk(STATE_MEMORY_WIPEONFORK);
	if (probe) {
		munmap(probe, CHUNK_SIZE);
		pool_memory = STATE_MEMORY_WIPEONFORK;
	}
}

enum state_memory state_pool_memory(void)
{
	pthread_once(&pool_once, pool_init);
	return pool_memory;
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

static int pool_grow_locked(void)
{
	size_t n = CHUNK_SIZE / SLOT_SIZE;
	struct slot *chunk;
	struct slot **grown;

	if (free_count + n > free_alloc) {
		grown = realloc(free_slots, (free_alloc + 4 * n) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		free_slots = grown;
		free_alloc += 4 * n;
	}
	chunk = map_chunk(pool_memory);
	if (!chunk)
		return -ENOMEM;
	for (size_t i = n; i-- > 0;)
		free_slots[free_count++] = &chunk[i];
	/* Keep room so a release never needs to allocate. */
	return 0;
}

static struct slot *slot_alloc(void)
{
	struct slot *s = NULL;

	if (!state_pool_wipes_on_fork() || !pool_key_ok)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	if (free_count == 0)
		(void)pool_grow_locked();
	if (free_count > 0)
		s = free_slots[--free_count];
	pthread_mutex_unlock(&pool_lock);
	if (!s)
		return NULL;
	if (pthread_setspecific(pool_key, s) != 0) {
		slot_release(s);
		return NULL;
	}
	tls_slot = s;
	return s;
}

struct slot *slot_get(void)
{
	struct slot *s = tls_slot;

	if (__builtin_expect(s != NULL, 1))
		return s;
	return slot_alloc();
}

void *slot_rng_state(struct slot *s)
{
	return s->bytes;
}

void *slot_vdso_state(struct slot *s)
{
	return s->bytes + SLOT_VDSO_STATE_OFFSET;
}
