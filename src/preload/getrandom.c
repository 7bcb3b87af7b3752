/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * getrandom() and getentropy() with glibc's and the kernel's semantics, served by the engine.
 *
 * The engine takes exactly the requests it answers as the kernel would: flags 0,
 * GRND_NONBLOCK, GRND_INSECURE or both, a length from 1 byte to below 1 GiB, a buffer that is
 * not obviously bad. Everything else is one getrandom system call, so its result, short count
 * and errno are the kernel's own: GRND_RANDOM, unknown flags (EINVAL), GRND_RANDOM together
 * with GRND_INSECURE (EINVAL), a zero length (which still waits for the pool, or says EAGAIN),
 * 1 GiB or more (which the kernel may shorten), NULL and kernel addresses (EFAULT). A vfork
 * child goes to the kernel for everything.
 *
 * errno is left as it was on success, as the system call leaves it: the engine's first request
 * looks for the daemon's page and may fail to open it on the way.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "preload.h"
#include "snapsafe/snapsafe.h"

/* May the engine answer this request exactly as getrandom(2) would? */
static bool engine_takes(const void *buf, size_t len, unsigned int flags)
{
	return !(flags & ~(unsigned int)(GRND_NONBLOCK | GRND_INSECURE)) &&
	       len > 0 && len < PRELOAD_KERNEL_LEN && !preload_buffer_suspect(buf, len) &&
	       !preload_kernel_only();
}

PRELOAD_EXPORT ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	int saved = errno, cancel;
	ssize_t r;

	/*
	 * glibc's getrandom is a cancellation point: a pending cancellation acts on entry. (glibc
	 * also acts on one that arrives while the kernel blocks; the engine never blocks, and the
	 * only wait, for the pool at boot, is the kernel's.)
	 */
	pthread_testcancel();
	if (!engine_takes(buf, len, flags))
		return preload_kernel_getrandom(buf, len, flags);
	cancel = preload_cancel_off();
	r = snapsafe_getrandom(buf, len, flags);
	preload_cancel_restore(cancel);
	if (r >= 0)
		errno = saved;
	return r;
}

/* glibc's getentropy: at most 256 bytes, a signal retried, 0 or -1; not a cancellation point. */
PRELOAD_EXPORT int getentropy(void *buf, size_t len)
{
	int saved = errno;
	size_t done = 0;

	if (len > PRELOAD_ENTROPY_MAX) {
		errno = EIO;
		return -1;
	}
	while (done < len) {
		/* No arithmetic on a NULL buffer: the kernel is to answer EFAULT for it. */
		void *at = done ? (uint8_t *)buf + done : buf;
		size_t n = len - done;
		ssize_t r;

		if (engine_takes(at, n, 0)) {
			int cancel = preload_cancel_off();

			r = snapsafe_getrandom(at, n, 0);
			preload_cancel_restore(cancel);
		} else {
			r = preload_kernel_getrandom(at, n, 0);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* Never for a length above 0; glibc stops the process there too. */
		if (r == 0)
			abort();
		done += (size_t)r;
	}
	errno = saved;
	return 0;
}
