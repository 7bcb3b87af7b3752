/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generation page: the ABI between snapsafed (the only writer) and every
 * reader (libsnapsafe, snapsafectl, anything that maps it). See docs/page.md.
 *
 * Offset 0 is the u32 system generation, as in /dev/sysgenid's mmap layout, and
 * the futex word that waiters sleep on. Offset 4 is the epoch word. The two are
 * stored together with one aligned 64-bit store, so the RNG's hot path checks
 * both with one 64-bit load (snapsafe_page_gen_epoch()).
 */
#ifndef SNAPSAFE_SHARED_PAGE_H
#define SNAPSAFE_SHARED_PAGE_H

#include <stddef.h>
#include <stdint.h>

enum {
	SNAPSAFE_PAGE_MAGIC	= 0x50474e53u,	/* "SNGP" little endian */
	SNAPSAFE_PAGE_VERSION	= 1,
	SNAPSAFE_PAGE_SIZE	= 4096,
};

/* Flags at offset 16. */
enum {
	SNAPSAFE_PAGE_RUNNING	= 1u << 0,	/* a daemon owns the page and runs its notifiers */
	SNAPSAFE_PAGE_QUIESCED	= 1u << 1,	/* snapshot in progress: serve from the kernel */
};

/* Notifier ids: the top 8 bits of the epoch word, and the bit in live_notifiers. */
enum snapsafe_notifier_id {
	SNAPSAFE_NOTIFIER_NONE		= 0,
	SNAPSAFE_NOTIFIER_CONTROL	= 1,	/* snapsafectl trigger / resume */
	SNAPSAFE_NOTIFIER_TIMER		= 2,	/* periodic reseed; never changes the generation */
	SNAPSAFE_NOTIFIER_VMFORK_KMSG	= 3,	/* "crng reseeded due to virtual machine fork" */
	SNAPSAFE_NOTIFIER_UEVENT	= 4,	/* NEW_VMGENID=1 (Linux 6.8) */
	SNAPSAFE_NOTIFIER_VMCLOCK	= 5,	/* /dev/vmclock0 vm_generation_counter */
	SNAPSAFE_NOTIFIER_SYSGENID	= 6,	/* a kernel /dev/sysgenid */
	SNAPSAFE_NOTIFIER_STARTUP	= 7,	/* daemon start found events it had missed */
	_SNAPSAFE_NOTIFIER_MAX,
};

/* Notifiers whose liveness means a VM snapshot/clone/restore will be seen. */
#define SNAPSAFE_NOTIFIERS_COVER_VM						\
	((1ull << SNAPSAFE_NOTIFIER_VMFORK_KMSG) | (1ull << SNAPSAFE_NOTIFIER_UEVENT) |	\
	 (1ull << SNAPSAFE_NOTIFIER_VMCLOCK) | (1ull << SNAPSAFE_NOTIFIER_SYSGENID))

#define SNAPSAFE_EPOCH_ID(epoch)	((uint32_t)(epoch) >> 24)
#define SNAPSAFE_EPOCH_COUNTER(epoch)	((uint32_t)(epoch) & 0xffffffu)
#define SNAPSAFE_EPOCH_MAKE(id, ctr)	(((uint32_t)(id) << 24) | ((uint32_t)(ctr) & 0xffffffu))

struct snapsafe_page {
	uint32_t generation;		/*  0: SysGenID; futex word; only increases */
	uint32_t epoch;			/*  4: id << 24 | 24-bit counter of all events */
	uint32_t magic;			/*  8: SNAPSAFE_PAGE_MAGIC */
	uint16_t version;		/* 12: SNAPSAFE_PAGE_VERSION */
	uint16_t header_size;		/* 14: sizeof(struct snapsafe_page) */
	uint32_t flags;			/* 16: SNAPSAFE_PAGE_* */
	uint32_t daemon_pid;		/* 20: pid of the owning daemon, 0 when none */
	uint64_t live_notifiers;	/* 24: bit n set: notifier id n is live */
	uint64_t last_raise_ns;		/* 32: CLOCK_REALTIME of the last generation raise */
	uint64_t last_epoch_ns;		/* 40: CLOCK_REALTIME of the last epoch change */
	/*
	 * 48: the VMClock disruption_marker after which the kernel has reseeded (the daemon saw
	 * a raise after it changed, or 2 s passed without one: a migration); 0 until known.
	 * Only in a page whose header_size covers it.
	 */
	uint64_t vmclock_settled;
};

_Static_assert(offsetof(struct snapsafe_page, generation) == 0, "sysgenid layout: u32 at 0");
_Static_assert(offsetof(struct snapsafe_page, epoch) == 4, "gen+epoch share one u64");
_Static_assert(offsetof(struct snapsafe_page, magic) == 8, "page layout");
_Static_assert(offsetof(struct snapsafe_page, flags) == 16, "page layout");
_Static_assert(offsetof(struct snapsafe_page, live_notifiers) == 24, "page layout");
_Static_assert(offsetof(struct snapsafe_page, last_epoch_ns) == 40, "page layout");
_Static_assert(offsetof(struct snapsafe_page, vmclock_settled) == 48, "page layout");
_Static_assert(sizeof(struct snapsafe_page) == 56, "page layout");
_Static_assert(_SNAPSAFE_NOTIFIER_MAX <= 64, "live_notifiers has 64 bits");

/* The generation (low half) and epoch (high half) in one load; little endian only. */
static inline uint64_t snapsafe_page_gen_epoch(const struct snapsafe_page *p)
{
	return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static inline uint64_t snapsafe_gen_epoch_pack(uint32_t gen, uint32_t epoch)
{
	return (uint64_t)gen | (uint64_t)epoch << 32;
}

#endif
