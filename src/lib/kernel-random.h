/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Random bytes from the kernel: the vDSO getrandom where the kernel has it
 * (6.11+), else the getrandom syscall, else /dev/urandom once /dev/random says the
 * pool is ready (when a seccomp filter or an old kernel refuses the syscall). This is
 * both the reseed source of the engine and the fallback for every request the engine
 * must not serve.
 */
#ifndef SNAPSAFE_LIB_KERNEL_RANDOM_H
#define SNAPSAFE_LIB_KERNEL_RANDOM_H

#include <stddef.h>

/*
 * kernel_random_fill() - fill all of @buf from the kernel.
 * Uses the vDSO, whose state is in this thread's slot (which it may allocate): call it
 * only with the guard held (guard.h).
 * Return: 0, or a negative errno: -EAGAIN (GRND_NONBLOCK, pool not ready),
 * -EINTR (a signal before any byte), -EINVAL, -EFAULT, or the errno of opening the
 * device files when the syscall is refused too.
 */
int kernel_random_fill(void *buf, size_t len, unsigned int flags);

/*
 * kernel_random_fill_nested() - the same without the vDSO: the syscall, else the device
 * files. For a call that interrupted the library on its thread (a signal handler): it
 * touches no slot and no initialisation, takes no lock and waits only for the kernel.
 * Return: as kernel_random_fill().
 */
int kernel_random_fill_nested(void *buf, size_t len, unsigned int flags);

/* Which kernel path is used: "vdso" or "syscall". */
const char *kernel_random_path(void);

/* For tests and the benchmark: never use the vDSO in this process. */
void kernel_random_disable_vdso(void);

#endif
