/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reentrancy marker, and the slow paths of once_run() and claim_try() (see guard.h). */
#include <limits.h>
#include <pthread.h>

#include "guard.h"

__thread unsigned char guard_inside __attribute__((tls_model("initial-exec")));

/*
 * Which copy of the process this is: fork() children (glibc's, which run the atfork
 * handlers) count one more than their parent. Not the pid: a vfork() child has a pid of
 * its own but shares the parent's memory, and the parent's other threads may really hold
 * a word it sees; it must treat them as held. A child made by a raw clone() is not
 * counted either, so a word its parent held stays held there, and the kernel serves it.
 */
static unsigned int fork_generation;

static void count_fork(void)
{
	__atomic_fetch_add(&fork_generation, 1, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void register_fork_counter(void)
{
	(void)pthread_atfork(NULL, NULL, count_fork);
}

/*
 * Make *@word this copy's mark unless it is ONCE_DONE or already this copy's mark.
 * Return: 1 taken, 0 held in this copy of the process, -1 done.
 */
static int take(unsigned int *word)
{
	unsigned int w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	/* Never ONCE_NONE or ONCE_DONE, however many forks came before. */
	unsigned int mine = ONCE_RUNNING + __atomic_load_n(&fork_generation, __ATOMIC_RELAXED) %
					   (UINT_MAX - ONCE_RUNNING);

	for (;;) {
		if (w == ONCE_DONE)
			return -1;
		/* Another thread of this process holds it, or the call this handler interrupted. */
		if (w == mine)
			return 0;
		/*
		 * Free, or held in the process we were forked from by a thread that does not exist
		 * here: ours. The CAS lets only one thread of this process take it.
		 */
		if (__atomic_compare_exchange_n(word, &w, mine, false, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return 1;
	}
}

bool once_run_slow(unsigned int *state, bool (*init)(void))
{
	int r = take(state), cancel, done;

	if (r <= 0)
		return r < 0;
	/* A thread cancelled inside init() would leave the word held for good. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	done = init();
	pthread_setcancelstate(cancel, NULL);
	if (done) {
		__atomic_store_n(state, ONCE_DONE, __ATOMIC_RELEASE);
		return true;
	}
	__atomic_store_n(state, ONCE_NONE, __ATOMIC_RELEASE);
	return false;
}

bool claim_try(unsigned int *word)
{
	return take(word) > 0;
}
