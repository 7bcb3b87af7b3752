/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The C half of the shim's vfork() (vfork-x86_64.S): the per-thread mark that a vfork child
 * may be running on this thread's TLS, and errno for a vfork that failed.
 *
 * Why vfork is interposed at all: a vfork child shares its parent's memory and TLS, so no
 * load tells it from its parent; only the kernel knows (getpid() differs). Asking the kernel
 * on every request costs a system call, more than the engine spends on a whole request, and
 * a pid remembered in ordinary memory cannot tell a vfork child (shared memory) from a fork
 * child (its own copy) anyway. The stub marks the TLS the child runs on instead.
 */
#include <errno.h>

#include "preload.h"

__thread unsigned int preload_vfork_depth __attribute__((tls_model("initial-exec")));

pid_t preload_vfork_failed(int err);

/* The stub jumps here when the system call failed; the mark is already put back. */
pid_t preload_vfork_failed(int err)
{
	errno = err;
	return -1;
}
