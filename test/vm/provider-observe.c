/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only, in the provider's observed build (test/vm/meson.build): every call the provider
 * makes to snapsafe_getrandom() passes through here (-Wl,--wrap), is counted as served by the
 * engine or by the kernel from the engine's fingerprint around it (engine-observe.c), and at
 * exit the counts go to the file $VM_OBSERVE_REPORT names as "engine=<n> kernel=<n>". That
 * is how the retrofit scenario learns the path of an `openssl rand` run (retrofit-loop.c),
 * a program it cannot ask.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

uint64_t vm_engine_fingerprint(void);
ssize_t __real_snapsafe_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __wrap_snapsafe_getrandom(void *buf, size_t len, unsigned int flags);

static uint64_t engine_calls, kernel_calls;

ssize_t __wrap_snapsafe_getrandom(void *buf, size_t len, unsigned int flags)
{
	uint64_t before = vm_engine_fingerprint(), after;
	ssize_t r = __real_snapsafe_getrandom(buf, len, flags);

	after = vm_engine_fingerprint();
	if (after != 0 && after != before)
		__atomic_fetch_add(&engine_calls, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&kernel_calls, 1, __ATOMIC_RELAXED);
	return r;
}

__attribute__((destructor)) static void observe_report(void)
{
	const char *path = getenv("VM_OBSERVE_REPORT");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dprintf(fd, "engine=%llu kernel=%llu\n",
		(unsigned long long)__atomic_load_n(&engine_calls, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&kernel_calls, __ATOMIC_RELAXED));
	close(fd);
}
