/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shim's ways to the kernel that leave the engine alone: getrandom(2) passed through as
 * one system call (flags the engine does not serve, lengths the kernel would shorten,
 * buffers it should judge), and a complete fill for a vfork child. Neither allocates, takes a
 * lock or runs one-time initialisation, so both are fine in a vfork child and in a signal
 * handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel-random.h"
#include "preload.h"

ssize_t preload_kernel_getrandom(void *buf, size_t len, unsigned int flags)
{
	/* Not the vDSO: only the system call is certain to answer every case as getrandom(2). */
	return syscall(SYS_getrandom, buf, len, flags);
}

void preload_kernel_fill(void *buf, size_t len)
{
	int saved = errno, cancel = preload_cancel_off();

	for (;;) {
		/*
		 * The nested path of libsnapsafe: the syscall, else /dev/urandom once /dev/random
		 * says the pool is ready. No slot, so no vDSO state either.
		 */
		int r = kernel_random_fill_nested(buf, len, 0);

		if (r == 0)
			break;
		if (r != -EINTR)
			abort();
	}
	preload_cancel_restore(cancel);
	errno = saved;
}
