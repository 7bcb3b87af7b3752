/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel random bytes through the vDSO when present, else the syscall, else (a seccomp
 * filter or a pre-3.17 kernel refusing the syscall) the device files; loops over short
 * reads. Every path is the kernel's own generator: nothing here makes bytes. Nothing here
 * takes a lock or allocates: the device-file path waits only for the kernel (the pool to be
 * ready), so it is safe in a nested call too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel-random.h"
#include "missing.h"
#include "vdso.h"

static bool vdso_disabled;

void kernel_random_disable_vdso(void)
{
	__atomic_store_n(&vdso_disabled, true, __ATOMIC_RELAXED);
}

const char *kernel_random_path(void)
{
	return !__atomic_load_n(&vdso_disabled, __ATOMIC_RELAXED) && vdso_getrandom_available() ?
	       "vdso" : "syscall";
}

/*
 * The syscall was refused outright (ENOSYS, EPERM): read the device files, as glibc's
 * arc4random does. /dev/urandom never blocks, even before the pool is initialised on
 * kernels before 5.18, so first wait until /dev/random is readable, which is the kernel
 * saying the pool is ready (once per process; GRND_INSECURE asks not to wait).
 */
static ssize_t kernel_random_device(void *buf, size_t len, unsigned int flags)
{
	static bool pool_ready;
	ssize_t r;
	int fd;

	if (!__atomic_load_n(&pool_ready, __ATOMIC_ACQUIRE) && !(flags & GRND_INSECURE)) {
		struct pollfd p = { .events = POLLIN };

		p.fd = open("/dev/random", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (p.fd < 0)
			return -errno;
		r = poll(&p, 1, (flags & GRND_NONBLOCK) ? 0 : -1);
		if (r < 0)
			r = -errno;
		close(p.fd);
		if (r <= 0)
			return r == 0 ? -EAGAIN : r;
		__atomic_store_n(&pool_ready, true, __ATOMIC_RELEASE);
	}
	fd = open(flags & GRND_RANDOM ? "/dev/random" : "/dev/urandom",
		  O_RDONLY | O_CLOEXEC | O_NOCTTY | ((flags & GRND_NONBLOCK) ? O_NONBLOCK : 0));
	if (fd < 0)
		return -errno;
	r = read(fd, buf, len);
	if (r < 0)
		r = -errno;
	close(fd);
	return r == 0 ? -EIO : r;
}

static ssize_t kernel_random_once(void *buf, size_t len, unsigned int flags, bool vdso)
{
	ssize_t r;

	if (vdso && !__atomic_load_n(&vdso_disabled, __ATOMIC_RELAXED)) {
		r = vdso_getrandom(buf, len, flags);
		if (r != -ENOSYS)
			return r;
	}
	r = syscall(SYS_getrandom, buf, len, flags);
	if (r >= 0)
		return r;
	if (errno == ENOSYS || errno == EPERM)
		return kernel_random_device(buf, len, flags);
	return -errno;
}

static int kernel_random_fill_via(void *buf, size_t len, unsigned int flags, bool vdso)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = kernel_random_once(p, len, flags, vdso);

		if (r < 0) {
			/* A signal after some bytes: keep going, getrandom(2) never fails then. */
			if (r == -EINTR && p != (uint8_t *)buf)
				continue;
			return (int)r;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int kernel_random_fill(void *buf, size_t len, unsigned int flags)
{
	return kernel_random_fill_via(buf, len, flags, true);
}

int kernel_random_fill_nested(void *buf, size_t len, unsigned int flags)
{
	return kernel_random_fill_via(buf, len, flags, false);
}
