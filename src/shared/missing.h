/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Constants that Debian 12's kernel and libc headers (Linux 6.1, glibc 2.36) do
 * not have yet. Everything here is detected at run time before it is relied on.
 */
#ifndef SNAPSAFE_SHARED_MISSING_H
#define SNAPSAFE_SHARED_MISSING_H

#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE		0x08	/* Linux 6.11: zero-fill on pressure, wipe on fork, no dump */
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK		18	/* Linux 4.14 */
#endif
#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP		16
#endif
#ifndef GRND_NONBLOCK
#define GRND_NONBLOCK		0x0001
#endif
#ifndef GRND_RANDOM
#define GRND_RANDOM		0x0002
#endif
#ifndef GRND_INSECURE
#define GRND_INSECURE		0x0004	/* Linux 5.6 */
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE	40	/* Linux 5.9 */
#endif
#ifndef FUTEX_WAIT_BITSET
#define FUTEX_WAIT_BITSET	9
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY	0xffffffff
#endif

/*
 * openat2(2), Linux 5.6; glibc 2.36 has no wrapper. The kernel's struct open_how (its first,
 * 24-byte version) under a name of our own, so that no libc or kernel header can clash.
 */
#ifndef SYS_openat2
#define SYS_openat2		437
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS	0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT		0x10
#endif
struct snapsafe_open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};

#endif
