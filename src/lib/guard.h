/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reentrancy and one-time initialisation, without ever waiting (docs/api.md promises that the
 * random-number functions are safe in a signal handler).
 *
 * The guard is a per-thread "inside the library" marker. Every public entry point takes it
 * on the way in, unless the thread has it already, and drops it on the way out; so do the
 * library's own fork handlers and its thread-exit cleanup. A random-number call that finds
 * it taken was made by a signal handler that interrupted the library on this thread. Whatever
 * the interrupted call holds or is half-way through (a one-time initialisation, a slot, a
 * watcher's lock) belongs to a caller that cannot run until the handler returns, so the
 * nested call touches none of it: it takes no lock, waits for nothing, and is served by the
 * getrandom syscall.
 *
 * once_run() is one-time initialisation in one atomic word. A caller that finds it running in
 * another thread does not wait: it is told "not yet" and serves from the kernel this time.
 * The word names the process whose thread runs it, so that a child forked meanwhile, in which
 * that thread does not exist, runs it again instead of never. claim_try() is the same word
 * for a job that is never "done", only skipped while someone does it.
 */
#ifndef SNAPSAFE_LIB_GUARD_H
#define SNAPSAFE_LIB_GUARD_H

#include <stdbool.h>

#include "macro.h"

/* In ordinary memory, never in a slot: a wiped slot must not look like "not inside". */
extern __thread unsigned char guard_inside __attribute__((tls_model("initial-exec")));

/*
 * guard_enter() - mark this thread as inside the library.
 * Return: true if it was not (the caller must guard_leave()); false if it already was: a
 * signal handler interrupted the library on this thread, and this call must not take a lock
 * or wait for anything.
 */
static inline bool guard_enter(void)
{
	if (unlikely(guard_inside))
		return false;
	guard_inside = 1;
	/* Set before any step a handler must not interleave with, as seen by that handler. */
	barrier();
	return true;
}

static inline void guard_leave(void)
{
	barrier();
	guard_inside = 0;
}

/* For entry points that take the guard only when they are the outermost call. */
static inline void guard_leave_if(bool entered)
{
	if (entered)
		guard_leave();
}

enum {
	ONCE_NONE	= 0,
	ONCE_DONE	= 1,
	ONCE_RUNNING	= 2,	/* + the pid of the process whose thread runs it */
};

bool once_run_slow(unsigned int *state, bool (*init)(void));

/*
 * once_run() - run @init once per process, never waiting for it.
 * @state: the once word, ONCE_NONE initially
 * @init: returns true when done (whatever it found), false for "try again later"
 * Return: true once @init has completed, here or before; false while another thread of this
 * process runs it (or the call a signal handler interrupted), or when @init said "later".
 */
static inline bool once_run(unsigned int *state, bool (*init)(void))
{
	if (likely(__atomic_load_n(state, __ATOMIC_ACQUIRE) == ONCE_DONE))
		return true;
	return once_run_slow(state, init);
}

/*
 * claim_try() - take @word (0 when free) for a job that one thread at a time should do, and
 * that anyone may skip: never waits. A claim held in the process this one was forked from
 * belongs to a thread that does not exist here, and is taken over.
 * Return: true if taken (give it back with claim_drop()); false if a thread of this process
 * holds it (or the call a signal handler interrupted).
 */
bool claim_try(unsigned int *word);

static inline void claim_drop(unsigned int *word)
{
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#endif
