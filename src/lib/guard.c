/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reentrancy marker, and the slow paths of once_run() and claim_try() (see guard.h). */
#include <unistd.h>

#include "guard.h"

__thread unsigned char guard_inside __attribute__((tls_model("initial-exec")));

/*
 * Make *@word this process's mark unless it is ONCE_DONE or already this process's mark.
 * getpid() is a system call: only on these slow paths, never on a hot one.
 * Return: 1 taken, 0 held by this process, -1 done.
 */
static int take(unsigned int *word)
{
	unsigned int w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	unsigned int mine = ONCE_RUNNING + (unsigned int)getpid();

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
	int r = take(state);

	if (r <= 0)
		return r < 0;
	if (init()) {
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
