/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMClock reader (src/shared/vmclock.c) on a fake page: it opens only a page with the
 * magic, a size that holds the counter and VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT; it reads
 * a counter the host changed; it gives up (-EBUSY) rather than hang on a seq_count left
 * odd; and it never returns a torn value. For the last, a writer thread publishes only
 * counters whose two 32-bit halves are equal, writing the halves one after the other
 * inside the seqlock, while the reader reads millions of times: a reader that skipped
 * either seq_count check would return a value with unequal halves.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "vmclock.h"

enum {
	VC_MAGIC = 0, VC_SIZE = 4, VC_VERSION = 8, VC_SEQ = 12, VC_FLAGS = 24, VC_GEN = 104,
	GEN_PRESENT = 1u << 8,
};

static char path[] = "/tmp/snapsafe-vmclock-XXXXXX";
static uint8_t *page;
static volatile bool stop;

static volatile uint32_t *u32_at(size_t off)
{
	return (volatile uint32_t *)(void *)(page + off);
}

static void page_reset(uint32_t magic, uint32_t size, uint64_t flags, uint64_t gen)
{
	memset(page, 0, 4096);
	*u32_at(VC_MAGIC) = magic;
	*u32_at(VC_SIZE) = size;
	*(uint16_t *)(void *)(page + VC_VERSION) = 1;
	*(uint64_t *)(void *)(page + VC_FLAGS) = flags;
	*(uint64_t *)(void *)(page + VC_GEN) = gen;
}

/* Keep the CPU busy for a while, so that a reader can land between two stores. */
static void dawdle(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

/*
 * The host's write: seq_count odd, the counter's halves one by one (with a pause between
 * them, which makes a torn read likely for a reader that does not check), seq_count even.
 */
static void host_write(uint32_t half, unsigned pause)
{
	uint32_t seq = *u32_at(VC_SEQ);

	__atomic_store_n(u32_at(VC_SEQ), seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(u32_at(VC_GEN), half, __ATOMIC_RELAXED);
	dawdle(pause);
	__atomic_store_n(u32_at(VC_GEN + 4), half, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(u32_at(VC_SEQ), seq + 2, __ATOMIC_RELEASE);
}

static void *writer(void *arg)
{
	for (uint32_t half = 1; !stop; half++) {
		host_write(half, 200);
		dawdle(200);
	}
	return NULL;
}

/*
 * The header must be VMClock's; the flags may be anything: QEMU offers the disruption
 * marker alone (flags 0), and then the counter reads as not there.
 */
TEST(test_open_wants_magic_and_size_and_takes_any_flags)
{
	struct vmclock_map *m = NULL;
	uint64_t gen;

	page_reset(0x12345678, 112, GEN_PRESENT, 1);
	assert_eq(vmclock_open(path, &m), -EPROTO);
	page_reset(0x4b4c4356, 100, GEN_PRESENT, 1);
	assert_eq(vmclock_open(path, &m), -EMSGSIZE);
	assert_true(m == NULL);
	page_reset(0x4b4c4356, 112, 0, 1);
	assert_eq(vmclock_open(path, &m), 0);
	assert_eq(vmclock_read_generation(m, &gen), -EOPNOTSUPP);
	vmclock_close(m);
	page_reset(0x4b4c4356, 112, GEN_PRESENT, 7);
	assert_eq(vmclock_open(path, &m), 0);
	assert_true(m != NULL);
	vmclock_close(m);
}

/* The marker (offset 16), the flags and the counter, in one consistent read. */
TEST(test_read_gives_the_marker_the_flags_and_the_counter)
{
	struct vmclock_reading r;
	struct vmclock_map *m = NULL;

	page_reset(0x4b4c4356, 112, GEN_PRESENT, 7);
	*(uint64_t *)(void *)(page + 16) = 0x1122334455667788ull;
	assert_eq(vmclock_open(path, &m), 0);
	assert_eq(vmclock_read(m, &r), 0);
	assert_eq(r.marker, 0x1122334455667788ull);
	assert_eq(r.flags, GEN_PRESENT);
	assert_eq(r.generation, 7);
	vmclock_close(m);
}

TEST(test_reads_the_counter_the_host_changed)
{
	struct vmclock_map *m = NULL;
	uint64_t gen = 0;

	page_reset(0x4b4c4356, 112, GEN_PRESENT, 7);
	assert_eq(vmclock_open(path, &m), 0);
	assert_eq(vmclock_read_generation(m, &gen), 0);
	assert_eq(gen, 7);
	host_write(9, 0);
	assert_eq(vmclock_read_generation(m, &gen), 0);
	assert_eq(gen, (9ull << 32) | 9);
	/* The hot path's word moved with the write: seq_count went up by two. */
	assert_eq(*vmclock_seq_word(m) >> 32, 2);
	vmclock_close(m);
}

TEST(test_seq_count_left_odd_is_ebusy_not_a_hang)
{
	struct vmclock_map *m = NULL;
	uint64_t gen = 0;

	page_reset(0x4b4c4356, 112, GEN_PRESENT, 7);
	assert_eq(vmclock_open(path, &m), 0);
	*u32_at(VC_SEQ) = 3;
	*(uint64_t *)(void *)(page + VC_GEN) = 8;
	assert_eq(vmclock_read_generation(m, &gen), -EBUSY);
	assert_eq(gen, 0);	/* written only on success */
	vmclock_close(m);
}

TEST(test_a_value_torn_by_a_concurrent_write_is_never_returned)
{
	struct vmclock_map *m = NULL;
	struct timespec start, now;
	uint64_t reads = 0, busy = 0, gen;
	pthread_t t;

	page_reset(0x4b4c4356, 112, GEN_PRESENT, 0);
	assert_eq(vmclock_open(path, &m), 0);
	stop = false;
	if (pthread_create(&t, NULL, writer, NULL) != 0)
		test_fail("pthread_create");
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 10000; i++, reads++) {
			int r = vmclock_read_generation(m, &gen);

			if (r == -EBUSY) {
				busy++;
				continue;
			}
			assert_eq(r, 0);
			if ((uint32_t)gen != (uint32_t)(gen >> 32))
				test_fail("torn read after %" PRIu64 " reads: 0x%016" PRIx64, reads, gen);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 2);
	stop = true;
	pthread_join(t, NULL);
	fprintf(stderr, "%" PRIu64 " reads, %" PRIu64 " gave up (-EBUSY), none torn\n", reads, busy);
	assert_true(busy < reads);
	vmclock_close(m);
}

int main(void)
{
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, 4096) < 0)
		test_fail("create %s: %m", path);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (page == MAP_FAILED)
		test_fail("mmap: %m");
	RUN(test_open_wants_magic_and_size_and_takes_any_flags);
	RUN(test_read_gives_the_marker_the_flags_and_the_counter);
	RUN(test_reads_the_counter_the_host_changed);
	RUN(test_seq_count_left_odd_is_ebusy_not_a_hang);
	RUN(test_a_value_torn_by_a_concurrent_write_is_never_returned);
	unlink(path);
	return 0;
}
