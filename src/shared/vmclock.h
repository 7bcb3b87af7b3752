/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader for the VMClock shared page (/dev/vmclock0, Linux 7.0+; the uapi-group
 * VMClock specification): magic, size, version, the seq_count seqlock, flags and
 * vm_generation_counter. Used by snapsafed's vmclock notifier and by libsnapsafe,
 * which checks the counter and the flags on its hot path when the device is readable.
 * Allocates nothing but the mapping and takes no lock (libsnapsafe opens it from any
 * context, a signal handler included).
 */
#ifndef SNAPSAFE_SHARED_VMCLOCK_H
#define SNAPSAFE_SHARED_VMCLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct vmclock_map;

/*
 * vmclock_open() - map a VMClock page read-only and validate its header.
 * @path: the device (default "/dev/vmclock0") or a test file in the same layout
 * @ret: written only on success
 * Return: 0, -ENOENT when absent, -EPROTO/-EMSGSIZE for a bad magic/size,
 * -EOPNOTSUPP when the page does not carry vm_generation_counter, or another errno.
 */
int vmclock_open(const char *path, struct vmclock_map **ret);

/* vmclock_close() - unmap; accepts NULL; returns NULL. */
struct vmclock_map *vmclock_close(struct vmclock_map *m);

/*
 * vmclock_read_generation() - a consistent read of vm_generation_counter under the
 * seqlock (retries while seq_count is odd or changed; gives up with -EBUSY after
 * many tries, so a stuck writer cannot hang the caller).
 */
int vmclock_read_generation(const struct vmclock_map *m, uint64_t *ret_gen);

/*
 * vmclock_generation_word() - the address of vm_generation_counter, for a plain
 * 64-bit load on the RNG hot path (an aligned u64 load cannot tear on x86-64; the
 * hot path only asks "did it change").
 */
const volatile uint64_t *vmclock_generation_word(const struct vmclock_map *m);

/*
 * vmclock_flags_word() - the address of the 64-bit flags, for the same use: the host may
 * withdraw vm_generation_counter (clear its flag, e.g. after a migration to an older host),
 * after which the counter never changes again. A reader that trusts the counter must notice
 * the flags change and then ask vmclock_read_generation() whether the counter is still there.
 */
const volatile uint64_t *vmclock_flags_word(const struct vmclock_map *m);

#endif
