/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's vDSO getrandom (Linux 6.11+ on x86-64), found through the vDSO's ELF
 * dynamic symbols, because glibc 2.36 does not call it. Detected once at run time.
 */
#ifndef SNAPSAFE_LIB_VDSO_H
#define SNAPSAFE_LIB_VDSO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * True when this kernel exports __vdso_getrandom and its state parameters (false, not yet
 * decided, while the slot pool's initialisation runs in another thread).
 */
bool vdso_getrandom_available(void);

/*
 * vdso_getrandom() - getrandom(2) through the vDSO, with this thread's opaque state.
 * Return: bytes written, or a negative errno. -ENOSYS when the vDSO has none, or the
 * thread has no slot (and cannot get one now).
 * May allocate this thread's slot: call it with the guard held (guard.h). A nested call
 * on the same thread (a signal handler) uses the syscall instead.
 */
ssize_t vdso_getrandom(void *buf, size_t len, unsigned int flags);

#endif
