/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of libsnapsafe-preload share: the mark a vfork child runs under, the rules
 * that send a request to the kernel instead of the engine, and the kernel paths themselves.
 *
 * The shim carries its own copy of libsnapsafe's engine (linked in from the internal archive,
 * every symbol of it hidden) and exports only the functions it interposes; see
 * docs/retrofit.md for why it does not link libsnapsafe.so. Nothing here is public.
 */
#ifndef SNAPSAFE_PRELOAD_H
#define SNAPSAFE_PRELOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* The interposed functions; everything else in the shim is hidden (-fvisibility=hidden). */
#define PRELOAD_EXPORT	__attribute__((visibility("default")))

enum {
	/* getentropy(3): more than this is EIO. */
	PRELOAD_ENTROPY_MAX	= 256,
	/*
	 * Requests from here on go to the kernel, which caps one call at MAX_RW_COUNT (2 GiB less
	 * a page) and returns a short count: below every page size's cap, so the kernel answers
	 * each request it would shorten, exactly as it would.
	 */
	PRELOAD_KERNEL_LEN	= 1 << 30,
	/* Below this no buffer the engine should write: Debian's default vm.mmap_min_addr. */
	PRELOAD_LOW_ADDR	= 1 << 16,
};

/*
 * Nonzero while this thread's TLS may be run by a vfork child, which shares the parent's
 * memory, TLS included. The vfork stub (vfork-x86_64.S) raises it before the system call and
 * puts back the old value on the parent's way out; the child returns with it raised. A
 * raised mark also covers a signal handler of the parent that runs between the raise and the
 * system call: it is served by the kernel, which is always right, merely slower.
 */
extern __thread unsigned int preload_vfork_depth __attribute__((tls_model("initial-exec")));

/*
 * preload_kernel_only() - must this request bypass the engine completely?
 *
 * True in a vfork child: its TLS is its parent's thread's, so the engine would allocate a
 * slot, run one-time initialisation or take over a claim that a thread of the parent holds,
 * all in memory the parent goes on using (and the child may be killed half-way). The kernel
 * serves it and nothing of the engine is touched.
 */
static inline bool preload_kernel_only(void)
{
	return unlikely(__atomic_load_n(&preload_vfork_depth, __ATOMIC_RELAXED) != 0);
}

/*
 * preload_buffer_suspect() - is [@buf, @buf + @len) a buffer only the kernel should judge?
 *
 * NULL and the lowest pages, a range that wraps or reaches above 2^47 (the top of x86-64
 * user space with 4-level page tables; higher mappings exist only when asked for): the
 * kernel answers EFAULT where the engine, writing from user space, would crash the program.
 * Everything else is written by the engine; docs/retrofit.md says what that changes.
 */
static inline bool preload_buffer_suspect(const void *buf, size_t len)
{
	uintptr_t p = (uintptr_t)buf;

	return p < PRELOAD_LOW_ADDR || p + len < p || ((p + len) >> 47) != 0;
}

/*
 * preload_cancel_off() - no thread cancellation until preload_cancel_restore().
 *
 * Around every call into the engine: on its slow paths it opens files (the daemon's page,
 * looked for once a second while there is none; the device files when the syscall is
 * refused), and open() is a cancellation point. glibc's getentropy and arc4random are not
 * cancellation points, and a thread cancelled there would unwind out of the engine holding
 * a claim or a one-time initialisation that nothing gives back. getrandom's own cancellation
 * point is pthread_testcancel() on entry. About 10 ns for the pair.
 * Return: the state to give back to preload_cancel_restore().
 */
static inline int preload_cancel_off(void)
{
	int old = PTHREAD_CANCEL_ENABLE;

	(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	return old;
}

static inline void preload_cancel_restore(int old)
{
	(void)pthread_setcancelstate(old, NULL);
}

/* getrandom(2) itself: one system call, its result and errno exactly as the kernel gives them. */
ssize_t preload_kernel_getrandom(void *buf, size_t len, unsigned int flags);

/*
 * preload_kernel_fill() - fill all of @buf from the kernel without touching the engine
 * (the syscall, else the device files), for the functions that cannot fail: a signal is
 * retried, anything else aborts the process, as glibc's arc4random does. Leaves errno alone
 * and is no cancellation point.
 */
void preload_kernel_fill(void *buf, size_t len);

#endif
