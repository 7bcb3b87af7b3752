/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The notifiers other than kmsg, each fed through its test path: the vmclock notifier on
 * a fake VMClock page (a counter change raises; a torn seqlock read, seq_count odd or
 * changing under the reader, is never taken as a new generation; a change while the
 * daemon was down raises at start; a VM fork that kmsg reports is left to a live VMClock,
 * which must count it within the deferral or kmsg raises it; a withdrawn counter, flag bit
 * 8 cleared, makes VMClock not live with a new epoch and hands VM forks back to kmsg; the
 * page's vmclock_settled names the disruption marker found at start, a changed one at the
 * next raise or after the deferral without one, never sooner), the
 * --sysgenid-compat file (0644, at least 4 bytes,
 * updated in place so that a mapping taken earlier sees every raise, unchanged by
 * epoch-only events), the timer (--timer 1: new epochs, never a new generation), and the
 * uevent notifier (its payload parser and sender check directly, and a forged uevent
 * from a process sent to the kernel's multicast group on the live netlink socket).
 * Usage: test-daemon-notifiers SNAPSAFED
 */
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "daemon-util.h"
#include "core.h"
#include "uevent-message.h"
#include "vmclock.h"

/* The VMClock layout (Linux include/uapi/linux/vmclock-abi.h), as offsets. */
enum {
	VC_MAGIC	= 0,
	VC_SIZE		= 4,
	VC_VERSION	= 8,
	VC_SEQ		= 12,
	VC_FLAGS	= 24,
	VC_GEN		= 104,
};

static struct td t;
static uint8_t *vc;	/* the fake VMClock page, shared with the daemon's mapping */

static uint32_t *vc32(size_t off)
{
	return (uint32_t *)(void *)(vc + off);
}

static uint64_t *vc64(size_t off)
{
	return (uint64_t *)(void *)(vc + off);
}

static void vmclock_create(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || ftruncate(fd, 4096) < 0)
		test_fail("create %s: %s", path, strerror(errno));
	vc = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (vc == MAP_FAILED)
		test_fail("mmap %s: %s", path, strerror(errno));
	*vc32(VC_MAGIC) = 0x4b4c4356;		/* "VCLK" */
	*vc32(VC_SIZE) = 112;
	*(uint16_t *)(void *)(vc + VC_VERSION) = 1;
	*vc64(VC_FLAGS) = 1ull << 8;		/* VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT */
	*vc64(VC_GEN) = 41;
}

/* The host's side of the seqlock: odd while writing. */
static void vmclock_begin(void)
{
	__atomic_store_n(vc32(VC_SEQ), *vc32(VC_SEQ) + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void vmclock_end(void)
{
	__atomic_store_n(vc32(VC_SEQ), *vc32(VC_SEQ) + 1, __ATOMIC_RELEASE);
}

static void vmclock_set(uint64_t gen)
{
	vmclock_begin();
	__atomic_store_n(vc64(VC_GEN), gen, __ATOMIC_RELAXED);
	vmclock_end();
}

TEST(test_vmclock_is_live_with_a_valid_page)
{
	assert_true(td_status(&t).notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMCLOCK));
}

/*
 * STATUS says whether processes that are not root can map the device (the udev rule makes
 * it 0444): from its mode, read at each request, not once at start.
 */
TEST(test_status_says_who_may_map_the_vmclock_device)
{
	char away[400];

	assert_eq(chmod(t.vmclock, 0644), 0);
	assert_eq(td_status(&t).vmclock_access, VMCLOCK_ACCESS_EVERYONE);
	assert_eq(chmod(t.vmclock, 0600), 0);
	assert_eq(td_status(&t).vmclock_access, VMCLOCK_ACCESS_PRIVILEGED);
	assert_eq(chmod(t.vmclock, 0644), 0);
	assert_eq(td_status(&t).vmclock_access, VMCLOCK_ACCESS_EVERYONE);
	/* Gone (a device unbound): absent. The notifier keeps its mapping; the file comes back. */
	snprintf(away, sizeof(away), "%s.away", t.vmclock);
	assert_eq(rename(t.vmclock, away), 0);
	assert_eq(td_status(&t).vmclock_access, VMCLOCK_ACCESS_ABSENT);
	assert_eq(rename(away, t.vmclock), 0);
}

TEST(test_vmclock_counter_change_raises)
{
	uint32_t gen = td_status(&t).generation;
	struct protocol_status st;

	vmclock_set(*vc64(VC_GEN) + 1);
	td_wait_generation(&t, gen + 1);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_VMCLOCK);
}

TEST(test_vmclock_odd_seq_count_is_not_a_new_generation)
{
	uint32_t gen = td_status(&t).generation;
	unsigned busy = td_log_count(&t, "vmclock: read: ");

	/* The host is half-way through an update: the new counter is there, seq_count odd. */
	vmclock_begin();
	__atomic_store_n(vc64(VC_GEN), *vc64(VC_GEN) + 1, __ATOMIC_RELAXED);
	/* Twice, so that at least one whole poll saw the odd seq_count. */
	td_wait_log(&t, "vmclock: read: ", busy);
	td_wait_log(&t, "vmclock: read: ", busy + 1);
	assert_eq(td_status(&t).generation, gen);
	/* The update completes: now it is a new generation, once. */
	vmclock_end();
	td_wait_generation(&t, gen + 1);
	assert_eq(td_status(&t).generation, gen + 1);
}

static volatile bool writer_stop;

/*
 * A host that keeps rewriting the page and puts a different counter in it while
 * seq_count is odd, then the old one back: the only consistent value never changes.
 */
static void *torn_writer(void *arg)
{
	uint64_t real = *vc64(VC_GEN);

	(void)arg;
	for (uint64_t i = 1; !writer_stop; i++) {
		vmclock_begin();
		__atomic_store_n(vc64(VC_GEN), real + i, __ATOMIC_RELAXED);
		for (int spin = 0; spin < 200; spin++)
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(vc64(VC_GEN), real, __ATOMIC_RELAXED);
		vmclock_end();
		if (i % 4096 == 0)
			sched_yield();	/* two shared cores: let the daemon run too */
	}
	return NULL;
}

TEST(test_vmclock_value_read_while_seq_count_changes_is_never_taken)
{
	uint32_t gen = td_status(&t).generation;
	pthread_t w;

	writer_stop = false;
	assert_eq(pthread_create(&w, NULL, torn_writer, NULL), 0);
	/* About 15 polls of the daemon; a reader without the seqlock would raise in most. */
	td_sleep_ms(1500);
	writer_stop = true;
	pthread_join(w, NULL);
	td_sleep_ms(300);
	assert_eq(td_status(&t).generation, gen);
}

TEST(test_vmclock_change_while_down_raises_on_restart)
{
	uint32_t gen = td_status(&t).generation;
	struct protocol_status st;

	td_stop_signal(&t, SIGTERM);
	vmclock_set(*vc64(VC_GEN) + 1);
	td_start(&t, "--sysgenid-compat", t.compat);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_STARTUP);
	/* Nothing changed since: no raise. */
	td_stop_signal(&t, SIGKILL);
	td_start(&t, "--sysgenid-compat", t.compat);
	assert_eq(td_status(&t).generation, gen + 1);
}

#define VMFORK_RECORD "random: crng reseeded due to virtual machine fork"

/* A kernel record in the test's kmsg file, with the next sequence number. */
static void kmsg_vmfork(void)
{
	static unsigned long long seq = 1000;
	char line[160];

	snprintf(line, sizeof(line), "6,%llu,1,-;" VMFORK_RECORD "\n", seq++);
	td_append(t.kmsg, line);
}

/* Wait until STATUS says notifier @id is (or is not) live. */
static struct protocol_status wait_live(unsigned id, bool live)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	for (;;) {
		struct protocol_status st = td_status(&t);

		if (!!(st.notifiers_live & (1ull << id)) == live)
			return st;
		if (td_now_ms() > deadline)
			test_fail("notifier %u did not become %s", id, live ? "live" : "off");
		td_sleep_ms(10);
	}
}

static void vmclock_set_flags(uint64_t flags)
{
	vmclock_begin();
	__atomic_store_n(vc64(VC_FLAGS), flags, __ATOMIC_RELAXED);
	vmclock_end();
}

/*
 * The host withdraws vm_generation_counter (flag bit 8, e.g. after a migration to an older
 * host): VMClock stops being live at once, with a new epoch so that libraries that trusted
 * it look again, and a VM fork that kmsg reports is raised at once instead of being left
 * to a device that no longer counts anything. The counter coming back is a new baseline.
 */
TEST(test_vmclock_withdrawn_counter_hands_vm_forks_back_to_kmsg)
{
	const struct snapsafe_page *p = td_map_page(&t);
	uint32_t gen, epoch = p->epoch;
	struct protocol_status st;

	wait_live(SNAPSAFE_NOTIFIER_VMCLOCK, true);
	vmclock_set_flags(0);
	st = wait_live(SNAPSAFE_NOTIFIER_VMCLOCK, false);
	assert_ne(p->epoch, epoch);
	assert_eq(SNAPSAFE_EPOCH_ID(p->epoch), SNAPSAFE_NOTIFIER_VMCLOCK);
	assert_eq(p->live_notifiers & (1ull << SNAPSAFE_NOTIFIER_VMCLOCK), 0);
	gen = st.generation;

	kmsg_vmfork();
	td_wait_generation(&t, gen + 1);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_VMFORK_KMSG);

	/* Back, with another host's counter: live again, nothing raised for it. */
	vmclock_begin();
	__atomic_store_n(vc64(VC_GEN), *vc64(VC_GEN) + 1000, __ATOMIC_RELAXED);
	__atomic_store_n(vc64(VC_FLAGS), 1ull << 8, __ATOMIC_RELAXED);
	vmclock_end();
	st = wait_live(SNAPSAFE_NOTIFIER_VMCLOCK, true);
	assert_eq(st.generation, gen + 1);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
}

/*
 * kmsg reports a VM fork that a live VMClock is expected to count; a device that does
 * not (its counter never moves) must not make the daemon miss the clone: after the
 * deferral the fork is raised by kmsg itself. One that does count it raises once.
 */
TEST(test_vm_fork_the_device_does_not_count_is_raised_after_the_deferral)
{
	unsigned waiting = td_log_count(&t, "waiting up to");
	uint32_t gen;
	struct protocol_status st;

	wait_live(SNAPSAFE_NOTIFIER_VMCLOCK, true);
	gen = td_status(&t).generation;
	kmsg_vmfork();
	td_wait_generation(&t, gen + 1);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_VMFORK_KMSG);
	/* It was deferred first, then raised by kmsg. */
	assert_true(td_log_count(&t, "waiting up to") > waiting);
	assert_true(td_log_count(&t, "did not count the VM fork") >= 1);
}

TEST(test_vm_fork_the_device_counts_raises_once)
{
	unsigned waiting = td_log_count(&t, "waiting up to");
	unsigned counted = td_log_count(&t, "already counted by the vmclock notifier");
	unsigned missed = td_log_count(&t, "did not count the VM fork");
	uint32_t gen = td_status(&t).generation;
	struct protocol_status st;

	/* The record first, then the device: the device's raise is the one. */
	kmsg_vmfork();
	td_wait_log(&t, "waiting up to", waiting);
	vmclock_set(*vc64(VC_GEN) + 1);
	td_wait_generation(&t, gen + 1);
	assert_eq(td_status(&t).epoch_notifier, SNAPSAFE_NOTIFIER_VMCLOCK);
	/* The device first, then the record: already counted. */
	vmclock_set(*vc64(VC_GEN) + 1);
	td_wait_generation(&t, gen + 2);
	kmsg_vmfork();
	td_wait_log(&t, "already counted by the vmclock notifier", counted);
	/* Past the deferral: nothing more was raised for either fork. */
	td_sleep_ms(CORE_VM_FORK_DEFER_MS + 500);
	st = td_status(&t);
	assert_eq(st.generation, gen + 2);
	assert_eq(td_log_count(&t, "did not count the VM fork"), missed);
}

/* Wait until @d's page epoch differs from @epoch. */
static uint32_t wait_epoch_change(const struct snapsafe_page *p, uint32_t epoch)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	while (__atomic_load_n(&p->epoch, __ATOMIC_ACQUIRE) == epoch) {
		if (td_now_ms() > deadline)
			test_fail("the epoch stayed at %08x", epoch);
		td_sleep_ms(10);
	}
	return p->epoch;
}

static void vmclock_set_marker(uint64_t marker)
{
	vmclock_begin();
	__atomic_store_n(vc64(16), marker, __ATOMIC_RELAXED);
	vmclock_end();
}

/* Wait until @p says that @marker is settled; return the milliseconds since @since. */
static uint64_t wait_settled(const struct snapsafe_page *p, uint64_t marker, uint64_t since)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	while (__atomic_load_n(&p->vmclock_settled, __ATOMIC_ACQUIRE) != marker) {
		if (td_now_ms() > deadline)
			test_fail("vmclock_settled stayed at %llu, expected %llu",
				  (unsigned long long)p->vmclock_settled, (unsigned long long)marker);
		td_sleep_ms(10);
	}
	return td_now_ms() - since;
}

/*
 * The page says which marker the kernel has reseeded since (libraries without a hardware
 * input hold until then). The marker moved to 1001 at @t_marker: a migration settles when
 * CORE_VM_FORK_DEFER_MS pass without a raise, never before; a restore settles at the raise
 * that the kernel's VM-fork record (here TRIGGER) causes. A value is read before the time
 * that says whether the deferral could have settled it.
 */
static void settle_by_time_and_by_raise(const struct td *q, const struct snapsafe_page *p,
					uint64_t t_marker)
{
	uint32_t gen = p->generation, epoch;
	uint64_t t0, v, ms;

	ms = wait_settled(p, 1001, t_marker);
	assert_true(ms + 10 >= CORE_VM_FORK_DEFER_MS);
	assert_eq(p->generation, gen);
	assert_eq(SNAPSAFE_EPOCH_ID(p->epoch), SNAPSAFE_NOTIFIER_VMCLOCK);

	epoch = p->epoch;
	t0 = td_now_ms();
	vmclock_set_marker(1002);
	wait_epoch_change(p, epoch);
	v = __atomic_load_n(&p->vmclock_settled, __ATOMIC_ACQUIRE);
	if (td_now_ms() - t0 < CORE_VM_FORK_DEFER_MS)
		assert_eq(v, 1001);	/* pending */
	assert_eq(td_u64(q, "TRIGGER"), gen + 1);
	v = __atomic_load_n(&p->vmclock_settled, __ATOMIC_ACQUIRE);
	ms = td_now_ms() - t0;
	if (ms < CORE_VM_FORK_DEFER_MS)
		assert_eq(v, 1002);	/* with the raise, not after the deferral */
	else
		fprintf(stderr, "the raise came %llu ms after the marker: settled by time\n",
			(unsigned long long)ms);
	wait_settled(p, 1002, t0);
}

/*
 * QEMU's VMClock: flags 0, the disruption marker alone, which changes on a restore and on a
 * live migration alike. The notifier is not live (it cannot tell a duplication), and a
 * marker change is a new epoch (RNGs reseed), never a raise. A counter offered later makes
 * it live from a baseline; a change of the counter then raises.
 */
TEST(test_vmclock_marker_alone_is_a_new_epoch_never_a_raise)
{
	uint8_t *main_vc = vc;
	const struct snapsafe_page *p;
	struct protocol_status st;
	uint64_t deadline, t_marker;
	uint32_t epoch;
	struct td q;

	td_init(&q, t.binary);
	vmclock_create(q.vmclock);
	*vc64(VC_FLAGS) = 0;
	*vc64(16) = 1000;
	td_start_argv(&q, NULL);
	st = td_status(&q);
	assert_eq(st.notifiers_live & (1ull << SNAPSAFE_NOTIFIER_VMCLOCK), 0);
	p = td_map_page(&q);
	/* A fresh daemon: the kernel has run since whatever moved the marker last. */
	assert_eq(p->header_size, sizeof(struct snapsafe_page));
	assert_eq(p->vmclock_settled, 1000);

	epoch = p->epoch;
	t_marker = td_now_ms();
	vmclock_set_marker(1001);
	epoch = wait_epoch_change(p, epoch);
	assert_eq(SNAPSAFE_EPOCH_ID(epoch), SNAPSAFE_NOTIFIER_VMCLOCK);
	assert_eq(td_status(&q).generation, st.generation);
	settle_by_time_and_by_raise(&q, p, t_marker);
	st.generation++;	/* its TRIGGER */

	/* The counter offered: live, and its first value raises nothing. */
	vmclock_set_flags(1ull << 8);
	deadline = td_now_ms() + TD_WAIT_MS;
	while (!(td_status(&q).notifiers_live & (1ull << SNAPSAFE_NOTIFIER_VMCLOCK))) {
		if (td_now_ms() > deadline)
			test_fail("vmclock did not become live when the counter was offered");
		td_sleep_ms(10);
	}
	assert_eq(td_status(&q).generation, st.generation);
	vmclock_set(*vc64(VC_GEN) + 1);
	td_wait_generation(&q, st.generation + 1);
	assert_eq(td_status(&q).epoch_notifier, SNAPSAFE_NOTIFIER_VMCLOCK);

	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
	munmap(vc, 4096);
	vc = main_vc;
	td_stop_signal(&q, SIGTERM);
	td_cleanup(&q);
	setenv("SNAPSAFE_RUNTIME_DIR", t.rt, 1);
}

static uint32_t compat_value(void)
{
	uint32_t v = 0;
	int fd = open(t.compat, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || pread(fd, &v, sizeof(v), 0) != sizeof(v))
		test_fail("read %s: %s", t.compat, strerror(errno));
	close(fd);
	return v;
}

TEST(test_compat_file_is_0644_and_holds_the_generation)
{
	struct stat st;

	assert_eq(stat(t.compat, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* Created 0600 and the daemon runs under umask 077: it must still be 0644. */
	assert_eq(st.st_mode & 07777, 0644);
	assert_true(st.st_size >= 4);
	assert_eq(compat_value(), td_status(&t).generation);
}

TEST(test_compat_file_tracks_the_generation_in_place)
{
	const volatile uint32_t *map;
	struct stat before, after, by_fd;
	uint32_t gen;
	int fd;

	/* What AWS-LC does: stat, open, map 4 bytes read-only, keep the mapping. */
	assert_eq(stat(t.compat, &before), 0);
	fd = open(t.compat, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	map = mmap(NULL, 4, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_eq(*map, td_status(&t).generation);

	for (int i = 0; i < 3; i++) {
		gen = (uint32_t)td_u64(&t, "TRIGGER");
		/* The reply comes after the store: the old mapping already sees it. */
		assert_eq(*map, gen);
	}
	gen = (uint32_t)td_u64(&t, "TRIGGER 100000");
	assert_eq(gen, 100000);
	assert_eq(*map, 100000);

	assert_eq(stat(t.compat, &after), 0);
	assert_eq(fstat(fd, &by_fd), 0);
	assert_eq(after.st_ino, before.st_ino);
	assert_eq(after.st_dev, before.st_dev);
	assert_eq(by_fd.st_ino, before.st_ino);
	assert_true(by_fd.st_nlink >= 1);
	assert_eq(after.st_size, before.st_size);
	assert_eq(after.st_mode & 07777, 0644);

	/* A restart keeps the file and the mapping. */
	td_stop_signal(&t, SIGKILL);
	td_start(&t, "--sysgenid-compat", t.compat);
	assert_eq(stat(t.compat, &after), 0);
	assert_eq(after.st_ino, before.st_ino);
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	assert_eq(*map, gen);
	munmap((void *)map, 4);
	close(fd);
}

TEST(test_compat_file_ignores_epoch_only_events)
{
	uint32_t gen = td_status(&t).generation;

	assert_eq(td_u64(&t, "QUIESCE"), gen);
	assert_eq(compat_value(), gen);
	assert_eq(td_u64(&t, "RESUME"), gen + 1);
	assert_eq(compat_value(), gen + 1);
}

TEST(test_timer_changes_the_epoch_never_the_generation)
{
	struct td tm;
	const struct snapsafe_page *p;
	struct tconn w;
	uint32_t gen, epoch, compat;
	uint64_t ge, deadline;
	unsigned ticks = 0;
	char line[256];

	td_init(&tm, t.binary);
	td_start(&tm, "--timer", "1", "--sysgenid-compat", tm.compat);
	assert_true(td_status(&tm).notifiers_live & (1u << SNAPSAFE_NOTIFIER_TIMER));
	p = td_map_page(&tm);
	tconn_open(&w, &tm);
	gen = (uint32_t)tconn_u64(&w, "WATCH");
	ge = snapsafe_page_gen_epoch(p);
	epoch = (uint32_t)(ge >> 32);
	compat = gen;

	/* Two timer epochs, each a new epoch word with the timer's id. */
	deadline = td_now_ms() + TD_WAIT_MS;
	while (ticks < 2) {
		uint64_t now = snapsafe_page_gen_epoch(p);
		uint32_t e = (uint32_t)(now >> 32);

		assert_eq((uint32_t)now, gen);
		if (e != epoch) {
			assert_eq(SNAPSAFE_EPOCH_ID(e), SNAPSAFE_NOTIFIER_TIMER);
			assert_ne(SNAPSAFE_EPOCH_COUNTER(e), SNAPSAFE_EPOCH_COUNTER(epoch));
			epoch = e;
			ticks++;
		}
		if (td_now_ms() > deadline)
			test_fail("the timer made %u new epochs in %d ms", ticks, TD_WAIT_MS);
		td_sleep_ms(20);
	}
	assert_eq(td_status(&tm).generation, gen);
	assert_eq(td_status(&tm).epoch_notifier, SNAPSAFE_NOTIFIER_TIMER);
	assert_eq(td_u64(&tm, "OUTDATED"), 0);
	/* The watcher was told nothing, and the compat file did not move. */
	assert_eq(tconn_line_timeout(&w, line, sizeof(line), 0), -ETIMEDOUT);
	tconn_expect_prefix(&w, "READ", "ERR EAGAIN");
	{
		uint32_t v = 0;
		int fd = open(tm.compat, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_eq(pread(fd, &v, 4, 0), 4);
		close(fd);
		assert_eq(v, compat);
	}
	tconn_close(&w);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
	td_cleanup(&tm);
}

/* A kernel uevent payload: "ACTION@DEVPATH\0KEY=VALUE\0...". */
#define KERNEL_VMGENID								\
	"change@/devices/platform/VMGENCTR:00\0ACTION=change\0"			\
	"DEVPATH=/devices/platform/VMGENCTR:00\0SUBSYSTEM=platform\0"		\
	"NEW_VMGENID=1\0DRIVER=vmgenid\0MODALIAS=acpi:VMGENCTR:\0SEQNUM=4242\0"

TEST(test_uevent_parser_accepts_only_the_kernel_new_vmgenid_change)
{
	static const char ok[] = KERNEL_VMGENID;
	/* udev's rebroadcast: a "libudev" magic header, then the properties. */
	static const char udev[] = "libudev\0\xfe\xed\xca\xfe\0\0\0\0ACTION=change\0NEW_VMGENID=1\0";
	static const char add[] = "add@/devices/platform/VMGENCTR:00\0ACTION=add\0NEW_VMGENID=1\0";
	static const char zero[] = "change@/devices/x\0ACTION=change\0NEW_VMGENID=0\0";
	static const char prefix[] = "change@/devices/x\0ACTION=change\0NEW_VMGENID=10\0";
	static const char no_action[] = "change@/devices/x\0NEW_VMGENID=1\0";
	static const char header_only[] = "change@/devices/x";

	assert_true(uevent_is_new_vmgenid(ok, sizeof(ok) - 1));
	assert_true(!uevent_is_new_vmgenid(udev, sizeof(udev) - 1));
	assert_true(!uevent_is_new_vmgenid(add, sizeof(add) - 1));
	assert_true(!uevent_is_new_vmgenid(zero, sizeof(zero) - 1));
	assert_true(!uevent_is_new_vmgenid(prefix, sizeof(prefix) - 1));
	assert_true(!uevent_is_new_vmgenid(no_action, sizeof(no_action) - 1));
	assert_true(!uevent_is_new_vmgenid(header_only, sizeof(header_only) - 1));
	assert_true(!uevent_is_new_vmgenid("", 0));
	/*
	 * A message cut before NEW_VMGENID=1 is complete is refused; each cut is a heap
	 * copy of exactly its length, so that ASan sees a read past it.
	 */
	const char *end = memmem(ok, sizeof(ok) - 1, "NEW_VMGENID=1", 13);

	assert_true(end != NULL);
	for (size_t n = 0; n < sizeof(ok) - 1; n++) {
		char *cut = malloc(n ? n : 1);
		bool r;

		assert_true(cut != NULL);
		memcpy(cut, ok, n);
		r = uevent_is_new_vmgenid(cut, n);
		free(cut);
		if (n < (size_t)(end - ok) + 13)
			assert_true(!r);
	}
}

TEST(test_uevent_sender_other_than_the_kernel_is_refused)
{
	static const char ok[] = KERNEL_VMGENID;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK, .nl_pid = 0, .nl_groups = 1 };
	struct sockaddr_nl process = { .nl_family = AF_NETLINK, .nl_pid = 4242, .nl_groups = 1 };
	struct sockaddr_nl other = { .nl_family = AF_UNIX };

	assert_true(uevent_accept(&kernel, sizeof(kernel), 0, ok, sizeof(ok) - 1));
	assert_true(!uevent_accept(&process, sizeof(process), 0, ok, sizeof(ok) - 1));
	assert_true(!uevent_accept(&other, sizeof(other), 0, ok, sizeof(ok) - 1));
	assert_true(!uevent_accept(&kernel, 0, 0, ok, sizeof(ok) - 1));
	assert_true(!uevent_accept(&kernel, sizeof(kernel), MSG_TRUNC, ok, sizeof(ok) - 1));
}

/* On a kernel without the uevent (all but 6.8) the notifier must not claim to be live. */
TEST(test_uevent_is_not_live_by_default_on_a_kernel_without_it)
{
	struct utsname u;
	unsigned maj = 0, min = 0;
	struct td ue;

	assert_eq(uname(&u), 0);
	if (sscanf(u.release, "%u.%u", &maj, &min) == 2 && maj == 6 && min == 8) {
		fprintf(stderr, "skipped: Linux 6.8 has the NEW_VMGENID uevent\n");
		return;
	}
	td_init(&ue, t.binary);
	ue.uevent_auto = true;
	td_start_argv(&ue, NULL);
	assert_true(!(td_status(&ue).notifiers_live & (1u << SNAPSAFE_NOTIFIER_UEVENT)));
	td_cleanup(&ue);
}

/* A process sends a NEW_VMGENID uevent to the kernel's group itself: it must be ignored. */
TEST(test_uevent_forged_by_a_process_never_raises)
{
	static const char msg[] = KERNEL_VMGENID;
	struct sockaddr_nl dst = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	struct sockaddr_nl src = { .nl_family = AF_NETLINK };
	struct td ue;
	unsigned seen;
	int fd;

	td_init(&ue, t.binary);
	td_start(&ue, "--uevent");
	assert_true(td_status(&ue).notifiers_live & (1u << SNAPSAFE_NOTIFIER_UEVENT));
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	assert_true(fd >= 0);
	assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	seen = td_log_count(&ue, "uevent: ignored");
	if (sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		/* Sending to a uevent group needs CAP_NET_ADMIN. */
		fprintf(stderr, "skipped: cannot send a uevent: %s\n", strerror(errno));
	} else {
		td_wait_log(&ue, "uevent: ignored", seen);
		assert_eq(td_status(&ue).generation, 0);
	}
	close(fd);
	assert_true(td_alive(&ue));
	td_cleanup(&ue);
}

int main(int argc, char **argv)
{
	mode_t old;
	int fd;

	td_init(&t, argc > 1 ? argv[1] : NULL);
	vmclock_create(t.vmclock);
	fd = open(t.compat, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	old = umask(077);
	td_start(&t, "--sysgenid-compat", t.compat);
	umask(old);
	RUN(test_vmclock_is_live_with_a_valid_page);
	RUN(test_status_says_who_may_map_the_vmclock_device);
	RUN(test_vmclock_counter_change_raises);
	RUN(test_vmclock_odd_seq_count_is_not_a_new_generation);
	RUN(test_vmclock_value_read_while_seq_count_changes_is_never_taken);
	RUN(test_vmclock_change_while_down_raises_on_restart);
	RUN(test_vm_fork_the_device_does_not_count_is_raised_after_the_deferral);
	RUN(test_vm_fork_the_device_counts_raises_once);
	RUN(test_vmclock_withdrawn_counter_hands_vm_forks_back_to_kmsg);
	RUN(test_vmclock_marker_alone_is_a_new_epoch_never_a_raise);
	RUN(test_compat_file_is_0644_and_holds_the_generation);
	RUN(test_compat_file_tracks_the_generation_in_place);
	RUN(test_compat_file_ignores_epoch_only_events);
	RUN(test_timer_changes_the_epoch_never_the_generation);
	RUN(test_uevent_parser_accepts_only_the_kernel_new_vmgenid_change);
	RUN(test_uevent_sender_other_than_the_kernel_is_refused);
	RUN(test_uevent_is_not_live_by_default_on_a_kernel_without_it);
	RUN(test_uevent_forged_by_a_process_never_raises);
	return td_finish(&t);
}
