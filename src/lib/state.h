/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-thread slots: the memory that holds a thread's RNG state and its vDSO
 * getrandom state. Slots live in mappings the kernel wipes on fork and never dumps
 * (MAP_DROPPABLE on 6.11+, else MADV_WIPEONFORK + MADV_DONTDUMP). A slot may read
 * as all zeroes at any moment (fork, or memory pressure with MAP_DROPPABLE): its
 * users treat zero as "reseed". Slots are pooled and handed to new threads when
 * their owner exits, wiped first.
 *
 * A thread reaches its slot through exactly one pointer, slot_tls, which is cleared
 * before the slot goes back to the pool; after that (the thread is exiting: its
 * pthread-key destructor ran) the thread never gets a slot again and the kernel
 * serves it. Each slot also records its owner, so that a state reached by two
 * threads at once would be noticed and not served.
 */
#ifndef SNAPSAFE_LIB_STATE_H
#define SNAPSAFE_LIB_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum {
	SLOT_SIZE		= 2048,	/* power of two: a slot never straddles a page */
	SLOT_OWNER_OFFSET	= 1064,	/* uintptr_t: the owner's token (rng.h leaves it) */
	SLOT_VDSO_STATE_OFFSET	= 1536,
	SLOT_VDSO_STATE_MAX	= SLOT_SIZE - SLOT_VDSO_STATE_OFFSET,
};

enum state_memory {
	STATE_MEMORY_NONE,		/* no fork-safe memory: the engine must not run */
	STATE_MEMORY_DROPPABLE,		/* MAP_DROPPABLE */
	STATE_MEMORY_WIPEONFORK,	/* MADV_WIPEONFORK + MADV_DONTDUMP */
	STATE_MEMORY_UNSAFE_TEST_ONLY,	/* plain memory: only the tests' negative control */
};

struct slot;

/* This thread's slot, or NULL. The one per-thread pointer to a slot. */
extern __thread struct slot *slot_tls __attribute__((tls_model("initial-exec")));

static inline struct slot *slot_current(void)
{
	return slot_tls;
}

/*
 * The owner token of this thread: the address of its slot_tls, which no other live thread
 * shares. Written into a slot when it is allocated; a slot wiped since (fork, memory
 * pressure) reads 0 there and is claimed again by its thread.
 */
static inline uintptr_t slot_owner_token(void)
{
	return (uintptr_t)&slot_tls;
}

/*
 * slot_get() - this thread's slot, allocated on first use without a lock.
 * Return: NULL when the kernel must serve: memory is short or not fork-safe, the pool's
 * one-time initialisation runs in another thread, or this thread is exiting (its slot went
 * back to the pool). Call it only with the guard held (guard.h), never from a nested call.
 */
struct slot *slot_get(void);

/* The RNG state area (offset 0) and the vDSO's opaque state area of a slot. */
static inline void *slot_rng_state(struct slot *s)
{
	return s;
}

static inline void *slot_vdso_state(struct slot *s)
{
	return (unsigned char *)s + SLOT_VDSO_STATE_OFFSET;
}

/*
 * state_pool_init() - run the pool's one-time initialisation (the pthread key, the memory
 * probe) unless done. Return: false while another thread runs it: ask again later.
 */
bool state_pool_init(void);

/* Which kind of memory slots come from; STATE_MEMORY_NONE while state_pool_init() is false. */
enum state_memory state_pool_memory(void);
bool state_pool_wipes_on_fork(void);
const char *state_memory_name(enum state_memory m);

/*
 * For tests, before first use: WIPEONFORK even where MAP_DROPPABLE exists, or
 * UNSAFE_TEST_ONLY so a fork storm can prove that it sees repeats when memory is
 * not wiped. Not exported from the shared library.
 */
void state_pool_force_memory(enum state_memory m);

#endif
