/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine follows the generation sources. The test plays the daemon: it
 * writes a page file in a temporary runtime directory, and a fake VMClock page.
 *
 * The clone test is the heart of it: save the thread's state, draw, put the saved
 * state back (what a restored VM snapshot does to memory), raise the generation,
 * draw again: nothing may repeat. Without the raise the same steps DO repeat,
 * which the test asserts too, so it can see the bug it guards against.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rollback.h"
#include "hwrng.h"
#include "page.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum { DRAWS = 16 };

static struct snapsafe_page *page;
static uint8_t *vmclock;
static uint32_t epoch_counter;
static char dir[] = "/tmp/snapsafe-test-XXXXXX";

static void *map_file(const char *name, size_t size)
{
	char path[256];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		test_fail("create %s: %m", path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		test_fail("mmap %s: %m", path);
	return p;
}

/*
 * Like the daemon: fields first, then generation and epoch in one release store,
 * then wake the futex waiters on the generation word.
 */
static void publish(uint32_t gen, unsigned int notifier, uint32_t flags)
{
	__atomic_store_n(&page->flags, flags, __ATOMIC_RELEASE);
	epoch_counter++;
	__atomic_store_n((uint64_t *)(void *)page,
			 snapsafe_gen_epoch_pack(gen, SNAPSAFE_EPOCH_MAKE(notifier, epoch_counter)),
			 __ATOMIC_RELEASE);
	syscall(SYS_futex, &page->generation, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void raise_generation(void)
{
	publish(page->generation + 1, SNAPSAFE_NOTIFIER_VMFORK_KMSG, SNAPSAFE_PAGE_RUNNING);
}

/* The host's write of one VMClock word: inside the seqlock, odd while it writes. */
static void vmclock_write(size_t off, uint64_t value)
{
	uint32_t *seq = (uint32_t *)(void *)(vmclock + 12);

	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n((uint64_t *)(void *)(vmclock + off), value, __ATOMIC_RELEASE);
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

static uint64_t vmclock_word(size_t off)
{
	return __atomic_load_n((uint64_t *)(void *)(vmclock + off), __ATOMIC_ACQUIRE);
}

/* A restore as Firecracker shows it: vm_generation_counter (offset 104) moves. */
static void raise_vmclock(void)
{
	vmclock_write(104, vmclock_word(104) + 1);
}

/* A restore or a migration as QEMU shows it: the disruption marker (offset 16) moves. */
static void raise_vmclock_marker(void)
{
	vmclock_write(16, vmclock_word(16) + 1);
}

/* A clock update: the host rewrites the page's time fields (offset 32 on), nothing else. */
static void vmclock_clock_update(void)
{
	vmclock_write(32, vmclock_word(32) + 1000);
}

TEST(test_auto_serves_while_a_vm_notifier_is_live)
{
	uint64_t before = rng_thread_engine_requests();
	uint8_t b[2048];

	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
	assert_eq(snapsafe_generation(), page->generation);
}

TEST(test_restored_state_without_a_raise_repeats)
{
	size_t n = rollback_and_compare(DRAWS, NULL);

	fprintf(stderr, "without a raise: %zu of %d outputs repeat\n", n, DRAWS);
	assert_eq(n, DRAWS);
}

TEST(test_restored_state_after_a_raise_never_repeats)
{
	uint64_t reseeds = rng_thread_reseeds();

	assert_eq(rollback_and_compare(DRAWS, raise_generation), 0);
	assert_eq(rng_thread_reseeds(), reseeds + 1);
}

TEST(test_timer_epoch_reseeds_without_a_new_generation)
{
	uint64_t reseeds = rng_thread_reseeds();
	uint32_t gen = page->generation;

	publish(gen, SNAPSAFE_NOTIFIER_TIMER, SNAPSAFE_PAGE_RUNNING);
	snapsafe_random_u32();
	assert_eq(rng_thread_reseeds(), reseeds + 1);
	assert_eq(snapsafe_generation(), gen);
}

TEST(test_quiesce_sends_every_request_to_the_kernel)
{
	uint64_t before;
	uint8_t b[2048];

	publish(page->generation, SNAPSAFE_NOTIFIER_CONTROL,
		SNAPSAFE_PAGE_RUNNING | SNAPSAFE_PAGE_QUIESCED);
	before = rng_thread_engine_requests();
	for (int i = 0; i < 10; i++)
		snapsafe_random_buf(b, sizeof(b));
	snapsafe_random_u32();
	assert_eq(rng_thread_engine_requests(), before);
	/* Resume: a new generation, the flag cleared, the engine serves again. */
	publish(page->generation + 1, SNAPSAFE_NOTIFIER_CONTROL, SNAPSAFE_PAGE_RUNNING);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
}

TEST(test_stopped_daemon_or_no_vm_notifier_means_kernel)
{
	uint64_t before = rng_thread_engine_requests();
	uint8_t b[2048];

	publish(page->generation, SNAPSAFE_NOTIFIER_NONE, 0);	/* daemon exited */
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before);

	__atomic_store_n(&page->live_notifiers, 1ull << SNAPSAFE_NOTIFIER_TIMER, __ATOMIC_RELEASE);
	publish(page->generation, SNAPSAFE_NOTIFIER_NONE, SNAPSAFE_PAGE_RUNNING);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before);	/* a timer covers no VM snapshot */

	__atomic_store_n(&page->live_notifiers, 1ull << SNAPSAFE_NOTIFIER_VMFORK_KMSG,
			 __ATOMIC_RELEASE);
	publish(page->generation, SNAPSAFE_NOTIFIER_NONE, SNAPSAFE_PAGE_RUNNING);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
}

TEST(test_vmclock_alone_enables_the_engine_and_its_change_reseeds)
{
	uint64_t before = rng_thread_engine_requests();
	uint8_t b[2048];

	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
	assert_eq(snapsafe_generation(), 0);	/* no daemon page in this scenario */
	assert_eq(rollback_and_compare(DRAWS, NULL), DRAWS);
	assert_eq(rollback_and_compare(DRAWS, raise_vmclock), 0);
}

static void vmclock_set_flags(uint64_t flags)
{
	vmclock_write(24, flags);
}

/* A migration to a host without the counter: flags bit 8 cleared, the counter left as it was. */
static void withdraw_vmclock_counter(void)
{
	vmclock_set_flags(0);
}

/* Withdrawn, one request while it is (served by the kernel), then offered again unchanged. */
static void withdraw_and_offer_again(void)
{
	uint8_t b[OUTPUT_SIZE];

	withdraw_vmclock_counter();
	snapsafe_random_buf(b, sizeof(b));
	vmclock_set_flags(1ull << 8);
}

/*
 * Any change of the page's flags is a change: the state is discarded and reseeded. The host
 * withdrawing the counter (a migration to an older host) leaves the disruption marker, which
 * still changes on every restore: the engine keeps serving from a new seed, and a restore
 * after the withdrawal, or a counter offered again unchanged, repeats nothing.
 */
TEST(test_vmclock_flag_changes_reseed_and_a_withdrawn_counter_repeats_nothing)
{
	uint64_t reseeds;
	uint8_t b[2048];

	vmclock_set_flags(1ull << 8);
	snapsafe_random_buf(b, sizeof(b));	/* seeded while the counter is there */
	reseeds = rng_thread_reseeds();
	withdraw_vmclock_counter();
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_reseeds(), reseeds + 1);
	/* A snapshot restored after the withdrawal: the marker tells, nothing repeats. */
	assert_eq(rollback_and_compare(DRAWS, raise_vmclock_marker), 0);
	vmclock_set_flags(1ull << 8);
	assert_eq(rollback_and_compare(DRAWS, withdraw_vmclock_counter), 0);
	/*
	 * The host offers the counter again, unchanged: the state seeded before the withdrawal
	 * (maybe copied meanwhile) is never served again, a new seed is.
	 */
	vmclock_set_flags(1ull << 8);
	assert_eq(rollback_and_compare(DRAWS, withdraw_and_offer_again), 0);
}

/* QEMU's VMClock: flags 0, the disruption marker alone. Its change is a restore. */
TEST(test_vmclock_marker_alone_enables_the_engine_and_its_change_reseeds)
{
	uint64_t before;
	uint8_t b[2048];

	vmclock_set_flags(0);
	snapsafe_random_buf(b, sizeof(b));
	before = rng_thread_engine_requests();
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
	assert_eq(rollback_and_compare(DRAWS, NULL), DRAWS);
	assert_eq(rollback_and_compare(DRAWS, raise_vmclock_marker), 0);
	vmclock_set_flags(1ull << 8);
}

/*
 * Where the CPU has RDSEED/RDRAND, every seed mixes it in: clones whose kernels still answer
 * alike right after a restore get different keys (the VM clone tests prove it on real
 * clones; here, that the input is taken).
 */
/*
 * The hot path checks the page's seqlock count, which every host write moves: a clock
 * update alone costs a reseed and nothing else (the engine goes on serving).
 */
TEST(test_vmclock_clock_update_reseeds_and_the_engine_serves_on)
{
	uint64_t reseeds, served;
	uint8_t b[2048];

	snapsafe_random_buf(b, sizeof(b));
	reseeds = rng_thread_reseeds();
	served = rng_thread_engine_requests();
	vmclock_clock_update();
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_reseeds(), reseeds + 1);
	assert_eq(rng_thread_engine_requests(), served + 1);
	assert_eq(rollback_and_compare(DRAWS, vmclock_clock_update), 0);
}

TEST(test_seeds_mix_the_hardware_input_when_the_cpu_has_it)
{
	uint64_t mixed = rng_thread_hw_mixed_reseeds(), reseeds = rng_thread_reseeds();
	uint8_t b[64];

	uint64_t served = rng_thread_engine_requests();

	raise_vmclock_marker();
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_reseeds(), reseeds + 1);
	if (!hwrng_available()) {
		fprintf(stderr, "no RDSEED/RDRAND on this CPU: nothing mixed (as expected)\n");
		assert_eq(rng_thread_hw_mixed_reseeds(), mixed);
		return;
	}
	assert_eq(rng_thread_hw_mixed_reseeds(), mixed + 1);
	/* ... and the engine serves at once: the mixed seed is the clone's own. */
	assert_eq(rng_thread_engine_requests(), served + 1);
}

/*
 * The daemon's word that the kernel has reseeded since the VMClock page's current disruption
 * marker (it saw a raise after the change, or none came in 2 s: a migration). Like the
 * daemon: the field first, then a raise or an epoch that publishes it.
 */
static void settle_vmclock(bool raise)
{
	__atomic_store_n(&page->vmclock_settled, vmclock_word(16), __ATOMIC_RELAXED);
	if (raise)
		raise_generation();
	else
		publish(page->generation, SNAPSAFE_NOTIFIER_VMCLOCK, SNAPSAFE_PAGE_RUNNING);
}

/* A request past the small-request path (which counts nothing): did the engine serve it? */
static bool engine_serves(void)
{
	uint64_t served = rng_thread_engine_requests();
	uint8_t b[2048];

	snapsafe_random_buf(b, sizeof(b));
	return rng_thread_engine_requests() == served + 1;
}

/*
 * Without a hardware input (the test build that compiles it out; a CPU without one), a
 * reseed right after a restore would take only getrandom(), which may still answer alike in
 * every clone: after the marker changed, the kernel serves until the daemon's page says the
 * kernel has reseeded since (vmclock_settled), then the engine again.
 */
TEST(test_without_hardware_input_a_vmclock_change_holds_until_the_daemon_settles_it)
{
	assert_true(!hwrng_available());
	assert_true(engine_serves());

	/* A clock update is no restore: a reseed from the kernel alone, and the engine serves. */
	vmclock_clock_update();
	assert_true(engine_serves());

	raise_vmclock_marker();
	for (int i = 0; i < DRAWS; i++)
		assert_true(!engine_serves());	/* held: the kernel */
	/* An epoch that settles nothing (a timer) does not end it. */
	publish(page->generation, SNAPSAFE_NOTIFIER_TIMER, SNAPSAFE_PAGE_RUNNING);
	assert_true(!engine_serves());

	settle_vmclock(true);
	assert_true(engine_serves());	/* the engine, a new seed */
	assert_eq(rng_thread_hw_mixed_reseeds(), 0);
	/* And a restore after that is caught the same way, repeating nothing. */
	assert_eq(rollback_and_compare(DRAWS, raise_vmclock_marker), 0);
	settle_vmclock(true);
	assert_true(engine_serves());
}

/*
 * A process that draws nothing between the restore and the daemon's raise: its first
 * request after both finds the marker changed and the page saying so. The raise came after
 * the restore, so the kernel has reseeded: the engine serves at once (it must not wait for
 * another raise that may never come).
 */
static void restore_then_settle(void)
{
	raise_vmclock_marker();
	settle_vmclock(true);
}

TEST(test_without_hardware_input_a_process_idle_across_the_restore_and_the_raise_is_served)
{
	assert_true(engine_serves());
	assert_eq(rollback_and_compare(DRAWS, restore_then_settle), 0);
	assert_true(engine_serves());
}

/*
 * A live migration moves the marker too, and the daemon raises nothing for it: it settles
 * the marker with an epoch after 2 s. The hold ends there.
 */
TEST(test_without_hardware_input_a_migration_holds_until_the_marker_is_settled)
{
	uint32_t gen = page->generation;

	assert_true(engine_serves());
	raise_vmclock_marker();
	assert_true(!engine_serves());
	settle_vmclock(false);
	assert_true(engine_serves());
	assert_eq(page->generation, gen);

	/* Idle across both: served at once too. */
	raise_vmclock_marker();
	settle_vmclock(false);
	assert_true(engine_serves());
}

/*
 * An older daemon's page ends before vmclock_settled (header_size 48): whatever lies at its
 * offset is not the daemon's word. The hold lasts until the generation rises.
 */
TEST(test_without_hardware_input_an_older_daemons_page_holds_until_a_raise)
{
	page->header_size = offsetof(struct snapsafe_page, vmclock_settled);
	assert_true(engine_serves());
	raise_vmclock_marker();
	assert_true(!engine_serves());
	settle_vmclock(false);		/* a value at offset 48 that no older daemon writes */
	assert_true(!engine_serves());
	raise_generation();
	assert_true(engine_serves());
	page->header_size = sizeof(*page);
}

TEST(test_generation_wait_wakes_on_raise)
{
	uint32_t gen = snapsafe_generation();
	pid_t pid = fork();

	if (pid == 0) {
		usleep(100000);
		raise_generation();
		_exit(0);
	}
	assert_eq(snapsafe_generation_wait(gen, 10000), gen + 1);
	assert_eq(snapsafe_generation_wait(gen + 1, 50), -ETIMEDOUT);
}

static void vmclock_create(void)
{
	vmclock = map_file("vmclock", 4096);
	*(uint32_t *)(void *)(vmclock + 0) = 0x4b4c4356;	/* "VCLK" */
	*(uint32_t *)(void *)(vmclock + 4) = 112;		/* size */
	*(uint16_t *)(void *)(vmclock + 8) = 1;			/* version */
	*(uint64_t *)(void *)(vmclock + 24) = 1ull << 8;	/* VM_GEN_COUNTER_PRESENT */
	*(uint64_t *)(void *)(vmclock + 104) = 1;		/* vm_generation_counter */
}

static void page_create(void)
{
	page = map_file("generation", 4096);
	page->magic = SNAPSAFE_PAGE_MAGIC;
	page->version = SNAPSAFE_PAGE_VERSION;
	page->header_size = sizeof(*page);
	page->live_notifiers = 1ull << SNAPSAFE_NOTIFIER_VMFORK_KMSG;
	publish(7, SNAPSAFE_NOTIFIER_STARTUP, SNAPSAFE_PAGE_RUNNING);
}

/*
 * Usage: test-generation-sources page|vmclock|vmclock-nohw (sources are mapped once per
 * process; vmclock-nohw: the build without the hardware input, a daemon's page beside).
 */
int main(int argc, char **argv)
{
	bool vm = argc > 1 && strcmp(argv[1], "vmclock") == 0;
	bool nohw = argc > 1 && strcmp(argv[1], "vmclock-nohw") == 0;
	char path[256];

	if (!mkdtemp(dir))
		test_fail("mkdtemp: %m");
	setenv("SNAPSAFE_RUNTIME_DIR", dir, 1);
	unsetenv("SNAPSAFE_ENGINE");	/* the default policy: auto */
	snprintf(path, sizeof(path), "%s/vmclock", dir);
	setenv("SNAPSAFE_VMCLOCK_PATH", path, 1);

	if (nohw) {
		vmclock_create();
		*(uint64_t *)(void *)(vmclock + 16) = 5;	/* disruption_marker */
		page_create();
		settle_vmclock(false);	/* a daemon settles the marker it finds at start */
		RUN(test_without_hardware_input_a_vmclock_change_holds_until_the_daemon_settles_it);
		RUN(test_without_hardware_input_a_process_idle_across_the_restore_and_the_raise_is_served);
		RUN(test_without_hardware_input_a_migration_holds_until_the_marker_is_settled);
		RUN(test_without_hardware_input_an_older_daemons_page_holds_until_a_raise);
	} else if (vm) {
		vmclock_create();
		RUN(test_vmclock_alone_enables_the_engine_and_its_change_reseeds);
		RUN(test_vmclock_flag_changes_reseed_and_a_withdrawn_counter_repeats_nothing);
		RUN(test_vmclock_marker_alone_enables_the_engine_and_its_change_reseeds);
		RUN(test_vmclock_clock_update_reseeds_and_the_engine_serves_on);
		RUN(test_seeds_mix_the_hardware_input_when_the_cpu_has_it);
	} else {
		page_create();
		RUN(test_auto_serves_while_a_vm_notifier_is_live);
		RUN(test_restored_state_without_a_raise_repeats);
		RUN(test_restored_state_after_a_raise_never_repeats);
		RUN(test_timer_epoch_reseeds_without_a_new_generation);
		RUN(test_quiesce_sends_every_request_to_the_kernel);
		RUN(test_stopped_daemon_or_no_vm_notifier_means_kernel);
		RUN(test_generation_wait_wakes_on_raise);
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	return system(path) == 0 ? 0 : 1;
}
