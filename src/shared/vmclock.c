/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader for the VMClock page (uapi-group VMClock specification, Linux
 * include/uapi/linux/vmclock-abi.h). Only the header, seq_count, disruption_marker, flags
 * and vm_generation_counter are used; the clock fields are left alone. The layout is
 * written out as offsets, little endian as the specification says, so that the
 * file does not depend on a kernel header that Debian 12 does not ship.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmclock.h"

enum {
	VMCLOCK_MAGIC			= 0x4b4c4356,	/* "VCLK" */
	VMCLOCK_OFF_MAGIC		= 0,	/* u32 */
	VMCLOCK_OFF_SIZE		= 4,	/* u32: bytes of the structure the host exposes */
	VMCLOCK_OFF_VERSION		= 8,	/* u16 */
	VMCLOCK_OFF_SEQ_COUNT		= 12,	/* u32: odd while the host writes */
	VMCLOCK_OFF_DISRUPTION_MARKER	= 16,	/* u64: changes on every restore or migration */
	VMCLOCK_OFF_FLAGS		= 24,	/* u64 */
	VMCLOCK_OFF_VM_GEN_COUNTER	= 104,	/* u64, added in Linux 7.0 */
	VMCLOCK_MIN_SIZE		= 112,	/* up to and including vm_generation_counter */
	VMCLOCK_MAP_SIZE		= 4096,
	VMCLOCK_READ_TRIES		= 10000,
};


/*
 * The handle is the read-only mapping itself: opening allocates nothing but the mapping, so
 * libsnapsafe can open the device from any context, a signal handler included.
 */
struct vmclock_map {
	uint8_t page[VMCLOCK_MAP_SIZE];
};

static uint32_t load32(const struct vmclock_map *m, size_t off)
{
	return __atomic_load_n((const uint32_t *)(const void *)(m->page + off), __ATOMIC_ACQUIRE);
}

static uint64_t load64(const struct vmclock_map *m, size_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)(m->page + off), __ATOMIC_RELAXED);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * The seqlock read of the specification: seq_count even and unchanged around the
 * reads, or the host was writing and we retry. A bounded number of tries, so a
 * host (or a test file) that leaves seq_count odd cannot hang the caller.
 */
static int read_consistent(const struct vmclock_map *m, struct vmclock_reading *ret)
{
	for (unsigned i = 0; i < VMCLOCK_READ_TRIES; i++) {
		struct vmclock_reading r;
		uint32_t s1, s2;

		s1 = load32(m, VMCLOCK_OFF_SEQ_COUNT);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		r.marker = load64(m, VMCLOCK_OFF_DISRUPTION_MARKER);
		r.flags = load64(m, VMCLOCK_OFF_FLAGS);
		r.generation = load64(m, VMCLOCK_OFF_VM_GEN_COUNTER);
		/* Order the data loads before the second seq_count load. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n((const uint32_t *)(const void *)(m->page + VMCLOCK_OFF_SEQ_COUNT),
				     __ATOMIC_RELAXED);
		if (s1 == s2) {
			*ret = r;
			return 0;
		}
	}
	return -EBUSY;
}

enum vmclock_access vmclock_access(const char *path)
{
	struct stat st;

	/* The mode, not access(2): the daemon runs as root, which may read anything. */
	if (stat(path ? path : "/dev/vmclock0", &st) < 0)
		return VMCLOCK_ACCESS_ABSENT;
	return (st.st_mode & S_IROTH) ? VMCLOCK_ACCESS_EVERYONE : VMCLOCK_ACCESS_PRIVILEGED;
}

int vmclock_open(const char *path, struct vmclock_map **ret)
{
	struct vmclock_map *m;
	struct stat st;
	struct vmclock_reading rd;
	void *p;
	int fd, r;

	fd = open(path ? path : "/dev/vmclock0", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* A test file must hold the whole structure; a device reports no size. */
	if (S_ISREG(st.st_mode) && st.st_size < VMCLOCK_MIN_SIZE) {
		close(fd);
		return -EMSGSIZE;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		return -ENODEV;
	}
	p = mmap(NULL, VMCLOCK_MAP_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	r = -errno;
	close(fd);
	if (p == MAP_FAILED)
		return r;
	m = p;

	if (load32(m, VMCLOCK_OFF_MAGIC) != VMCLOCK_MAGIC) {
		r = -EPROTO;
		goto fail;
	}
	if (load32(m, VMCLOCK_OFF_SIZE) < VMCLOCK_MIN_SIZE ||
	    load32(m, VMCLOCK_OFF_SIZE) > VMCLOCK_MAP_SIZE) {
		r = -EMSGSIZE;
		goto fail;
	}
	r = read_consistent(m, &rd);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	vmclock_close(m);
	return r;
}

struct vmclock_map *vmclock_close(struct vmclock_map *m)
{
	if (m)
		munmap(m, VMCLOCK_MAP_SIZE);
	return NULL;
}

int vmclock_read(const struct vmclock_map *m, struct vmclock_reading *ret)
{
	return read_consistent(m, ret);
}

int vmclock_read_generation(const struct vmclock_map *m, uint64_t *ret_gen)
{
	struct vmclock_reading r;
	int e;

	e = read_consistent(m, &r);
	if (e < 0)
		return e;
	/* The host may not offer the counter (QEMU), or withdraw it (an older host). */
	if (!(r.flags & VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT))
		return -EOPNOTSUPP;
	*ret_gen = r.generation;
	return 0;
}

const volatile uint64_t *vmclock_seq_word(const struct vmclock_map *m)
{
	/* version (u16), counter_id, time_type (u8 each), seq_count (u32): 8-byte aligned. */
	return (const volatile uint64_t *)(const void *)(m->page + VMCLOCK_OFF_VERSION);
}
