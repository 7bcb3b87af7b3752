/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket-free side of the generation API: one load from the daemon's page,
 * and a futex wait on its first word for "the generation changed".
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "sources.h"
#include "snapsafe/snapsafe.h"

/* The page, looked for under the guard (a handler that interrupted us does not wait for it). */
static const struct snapsafe_page *generation_page(void)
{
	bool entered = guard_enter();
	const struct snapsafe_page *page = sources_page();

	guard_leave_if(entered);
	return page;
}

EXPORT uint32_t snapsafe_generation(void)
{
	const struct snapsafe_page *page = generation_page();

	if (!page)
		return 0;
	return __atomic_load_n(&page->generation, __ATOMIC_ACQUIRE);
}

EXPORT int64_t snapsafe_generation_wait(uint32_t seen, unsigned int timeout_ms)
{
	const struct snapsafe_page *page = generation_page();
	struct timespec deadline, now, rel, *relp = NULL;

	if (!page)
		return -ENOENT;
	if (timeout_ms) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	for (;;) {
		uint32_t gen = __atomic_load_n(&page->generation, __ATOMIC_ACQUIRE);

		if (gen != seen)
			return gen;
		if (timeout_ms) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			rel.tv_sec = deadline.tv_sec - now.tv_sec;
			rel.tv_nsec = deadline.tv_nsec - now.tv_nsec;
			if (rel.tv_nsec < 0) {
				rel.tv_sec--;
				rel.tv_nsec += 1000000000L;
			}
			if (rel.tv_sec < 0)
				return -ETIMEDOUT;
			relp = &rel;
		}
		/*
		 * FUTEX_WAIT compares the word with `seen` in the kernel, so a raise
		 * between our load and the wait returns at once (EAGAIN), never lost.
		 * The page is MAP_SHARED: a shared futex, no FUTEX_PRIVATE_FLAG.
		 */
		if (syscall(SYS_futex, &page->generation, FUTEX_WAIT, seen, relp, NULL, 0) < 0) {
			if (errno == EINTR)
				return -EINTR;
			if (errno == ETIMEDOUT)
				return -ETIMEDOUT;
			if (errno != EAGAIN)
				return -errno;
		}
	}
}
