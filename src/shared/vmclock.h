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

#define VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT	(1ull << 8)	/* Linux 7.0 ABI */
#define VMCLOCK_FLAG_NOTIFICATION_PRESENT	(1ull << 9)	/* the device polls readable */

/* One consistent read of the words that tell a restore (or a migration) happened. */
struct vmclock_reading {
	uint64_t marker;	/* disruption_marker: changes on every restore and migration */
	uint64_t flags;
	uint64_t generation;	/* vm_generation_counter: restores only; valid with bit 8 */
};

/*
 * vmclock_open() - map a VMClock page read-only and validate its header. Any flags are
 * accepted: QEMU offers disruption_marker alone (flags 0).
 * @path: the device (default "/dev/vmclock0") or a test file in the same layout
 * @ret: written only on success
 * Return: 0, -ENOENT when absent, -EPROTO/-EMSGSIZE for a bad magic/size, or another errno.
 */
int vmclock_open(const char *path, struct vmclock_map **ret);

/* Who may map the device: libsnapsafe in an unprivileged process needs it readable. */
enum vmclock_access {
	VMCLOCK_ACCESS_UNKNOWN,		/* not reported (an older daemon) */
	VMCLOCK_ACCESS_ABSENT,		/* no such device */
	VMCLOCK_ACCESS_PRIVILEGED,	/* there, but not readable by every user (no udev rule) */
	VMCLOCK_ACCESS_EVERYONE,	/* readable by every user */
};

/* vmclock_access() - what @path (NULL: /dev/vmclock0) offers unprivileged processes. */
enum vmclock_access vmclock_access(const char *path);

/* vmclock_close() - unmap; accepts NULL; returns NULL. */
struct vmclock_map *vmclock_close(struct vmclock_map *m);

/*
 * vmclock_read() - a consistent read of the marker, the flags and the counter under the
 * seqlock (retries while seq_count is odd or changed; gives up with -EBUSY after many
 * tries, so a stuck writer cannot hang the caller).
 * vmclock_read_generation() - the counter alone; -EOPNOTSUPP while flag bit 8 is clear.
 */
int vmclock_read(const struct vmclock_map *m, struct vmclock_reading *ret);
int vmclock_read_generation(const struct vmclock_map *m, uint64_t *ret_gen);

/*
 * vmclock_seq_word() - the address of the aligned 64-bit word that holds seq_count (with
 * the constant version, counter_id and time_type beside it), for one plain load on the RNG
 * hot path: the host moves seq_count on every write to the page (twice: odd while it
 * writes), so a word that did not change means that neither the marker, the flags nor the
 * counter did. An aligned u64 load cannot tear on x86-64; the hot path only asks "did it
 * change", and reads the words themselves with vmclock_read() when it did.
 */
const volatile uint64_t *vmclock_seq_word(const struct vmclock_map *m);

#endif
