/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel random bytes through the vDSO when present, else the syscall; loops over short reads. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel-random.h"
#include "vdso.h"

static bool vdso_disabled;

void kernel_random_disable_vdso(void)
{
	vdso_disabled = true;
}

const char *kernel_random_path(void)
{
	return !vdso_disabled && vdso_getrandom_available() ? "vdso" : "syscall";
}

static ssize_t kernel_random_once(void *buf, size_t len, unsigned int flags)
{
	ssize_t r;

	if (!vdso_disabled) {
		r = vdso_getrandom(buf, len, flags);
		if (r != -ENOSYS)
			return r;
	}
	r = syscall(SYS_getrandom, buf, len, flags);
	return r < 0 ? -errno : r;
}

int kernel_random_fill(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = kernel_random_once(p, len, flags);

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
