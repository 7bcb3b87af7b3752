/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-thread slots: the memory that holds a thread's RNG state and its vDSO
 * getrandom state. Slots live in mappings the kernel wipes on fork and never dumps
 * (MAP_DROPPABLE on 6.11+, else MADV_WIPEONFORK + MADV_DONTDUMP). A slot may read
 * as all zeroes at any moment (fork, or memory pressure with MAP_DROPPABLE): its
 * users treat zero as "reseed". Slots are pooled and handed to new threads when
 * their owner exits, wiped first.
 */
#ifndef SNAPSAFE_LIB_STATE_H
#define SNAPSAFE_LIB_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum {
	SLOT_SIZE		= 2048,	/* power of two: a slot never straddles a page */
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

/* This thread's slot, allocated on first use; NULL when memory is short or unsafe. */
struct slot *slot_get(void);

/* The RNG state area (offset 0) and the vDSO's opaque state area of a slot. */
void *slot_rng_state(struct slot *s);
void *slot_vdso_state(struct slot *s);

/* Which kind of memory slots come from; decided once. */
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
