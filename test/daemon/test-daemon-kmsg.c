/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmfork-kmsg notifier fed through --kmsg-path with records in /dev/kmsg's format
 * ("PRI,SEQ,TS,FLAGS;text"): only the kernel's own record (facility 0, exactly the text
 * random.c logs) raises the generation; the same text from userspace (a non-zero
 * facility, which the kernel forces on every write to /dev/kmsg) or quoted inside another
 * kernel record does not. Sequence numbers are persisted: a restart does not raise again
 * for a record already handled, raises once for one logged while the daemon was down,
 * and never for one that predates the very first start (docs/daemon.md, "Notifiers"). Every
 * "did not raise" is proven by a later record the daemon is seen to handle.
 * Usage: test-daemon-kmsg SNAPSAFED
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include "daemon-util.h"

#define VMFORK "random: crng reseeded due to virtual machine fork"

static struct td t;
static unsigned long long next_seq;

/* Append one record with the next sequence number; returns that number. */
static unsigned long long kmsg_record(const struct td *d, unsigned pri, const char *text)
{
	char line[16384];
	unsigned long long seq = next_seq++;

	snprintf(line, sizeof(line), "%u,%llu,%llu,-;%s\n", pri, seq, 1000000 + seq * 1000, text);
	td_append(d->kmsg, line);
	return seq;
}

/* Append the kernel's VM-fork record and wait until the daemon says it handled it. */
static void kmsg_vmfork_handled(struct td *d)
{
	char needle[128];
	unsigned long long seq = next_seq;

	snprintf(needle, sizeof(needle), "Kernel reports a VM fork (kmsg seq %llu)", seq);
	kmsg_record(d, 6, VMFORK);
	td_wait_log(d, needle, 0);
}

TEST(test_kmsg_records_before_the_first_start_never_raise)
{
	struct protocol_status st = td_status(&t);

	/* The log held a kernel VM-fork record (this machine's own restore) before we started. */
	assert_eq(st.generation, 0);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_NONE);
	assert_true(st.notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMFORK_KMSG));
}

TEST(test_kmsg_kernel_vmfork_record_raises)
{
	uint32_t gen = td_status(&t).generation;
	struct protocol_status st;

	kmsg_vmfork_handled(&t);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_VMFORK_KMSG);
}

TEST(test_kmsg_user_facility_never_raises)
{
	uint32_t gen = td_status(&t).generation;

	kmsg_record(&t, 14, VMFORK);	/* user.info: what `echo ... > /dev/kmsg` gives */
	kmsg_record(&t, 12, VMFORK);	/* user.warning */
	kmsg_record(&t, 8, VMFORK);	/* user.emerg */
	kmsg_record(&t, 30, VMFORK);	/* daemon.info */
	kmsg_record(&t, 190, VMFORK);	/* local7.info */
	/* The daemon reads in order: once it handled this one, it saw the others. */
	kmsg_vmfork_handled(&t);
	assert_eq(td_status(&t).generation, gen + 1);
}

TEST(test_kmsg_vmfork_text_inside_another_kernel_record_never_raises)
{
	uint32_t gen = td_status(&t).generation;

	/* Kernel records that quote what a process chose: audit, a file name, a comm. */
	kmsg_record(&t, 5, "audit: type=1400 apparmor=\"DENIED\" name=\"/tmp/" VMFORK "\"");
	kmsg_record(&t, 6, "EXT4-fs (vda): " VMFORK);
	kmsg_record(&t, 6, VMFORK " (not really)");
	kmsg_record(&t, 6, "random: crng reseeded due to virtual machine");
	kmsg_vmfork_handled(&t);
	assert_eq(td_status(&t).generation, gen + 1);
}

TEST(test_kmsg_malformed_and_continuation_lines_are_ignored)
{
	uint32_t gen = td_status(&t).generation;
	static char huge[12000];
	char line[256];

	td_append(t.kmsg, " SUBSYSTEM=random\n DEVICE=+vmgenid\n");
	td_append(t.kmsg, "no semicolon at all " VMFORK "\n");
	td_append(t.kmsg, "6,x,1,-;" VMFORK "\n");
	td_append(t.kmsg, "6,999999;" VMFORK "\n");
	td_append(t.kmsg, ";" VMFORK "\n\n\n");
	snprintf(line, sizeof(line), "-6,%llu,1,-;" VMFORK "\n", next_seq++);
	td_append(t.kmsg, line);
	snprintf(line, sizeof(line), "99999999999999999999999,%llu,1,-;" VMFORK "\n", next_seq++);
	td_append(t.kmsg, line);
	/*
	 * An over-long kernel record is dropped whole, never cut into pieces: its tail is a
	 * well-formed VM-fork record that a reader splitting at its buffer size would take.
	 */
	snprintf(line, sizeof(line), "6,%llu,1,-;", next_seq++);
	strcpy(huge, line);
	memset(huge + strlen(line), 'x', 9000);
	snprintf(huge + strlen(line) + 9000, 256, "6,%llu,1,-;" VMFORK "\n", next_seq++);
	td_append(t.kmsg, huge);
	kmsg_vmfork_handled(&t);
	assert_eq(td_status(&t).generation, gen + 1);
	assert_true(td_alive(&t));
}

TEST(test_kmsg_restart_after_kill9_does_not_raise_again_for_a_handled_record)
{
	struct protocol_status st;
	uint32_t gen;

	kmsg_vmfork_handled(&t);
	gen = td_status(&t).generation;
	/* Right after the raise: the position must already be on disk. */
	td_stop_signal(&t, SIGKILL);
	td_start_argv(&t, NULL);
	st = td_status(&t);
	assert_eq(st.generation, gen);
	assert_ne(st.epoch_notifier, SNAPSAFE_NOTIFIER_STARTUP);
	assert_ne(st.epoch_notifier, SNAPSAFE_NOTIFIER_VMFORK_KMSG);
	/* And after a clean stop too. */
	td_stop_signal(&t, SIGTERM);
	td_start_argv(&t, NULL);
	assert_eq(td_status(&t).generation, gen);
}

TEST(test_kmsg_record_logged_while_down_raises_once_on_restart)
{
	struct protocol_status st;
	uint32_t gen = td_status(&t).generation;

	td_stop_signal(&t, SIGTERM);
	kmsg_record(&t, 6, VMFORK);
	kmsg_record(&t, 6, "random: some other kernel message");
	td_start_argv(&t, NULL);
	st = td_status(&t);
	assert_eq(st.generation, gen + 1);
	assert_eq(st.epoch_notifier, SNAPSAFE_NOTIFIER_STARTUP);
	/* Handled now: the next restart must not raise for it again. */
	td_stop_signal(&t, SIGKILL);
	td_start_argv(&t, NULL);
	assert_eq(td_status(&t).generation, gen + 1);
	/* Live records keep working after the restarts. */
	kmsg_vmfork_handled(&t);
	assert_eq(td_status(&t).generation, gen + 2);
}

/* The first start saw an empty log: every record that comes later is new, even while down. */
TEST(test_kmsg_record_logged_while_down_after_an_empty_first_start_raises)
{
	struct td e;

	td_init(&e, t.binary);
	td_start_argv(&e, NULL);
	assert_eq(td_status(&e).generation, 0);
	td_stop_signal(&e, SIGTERM);
	td_append(e.kmsg, "6,0,1373638,-;" VMFORK "\n");
	td_start_argv(&e, NULL);
	assert_eq(td_status(&e).generation, 1);
	assert_eq(td_status(&e).epoch_notifier, SNAPSAFE_NOTIFIER_STARTUP);
	td_cleanup(&e);
}

/*
 * At UINT32_MAX (reached one raise at a time: a control request may not jump there) the
 * generation cannot grow. A VM fork then must still change the epoch, or every RNG keeps
 * serving the state it shares with the other clones.
 */
TEST(test_kmsg_vmfork_at_the_maximum_generation_still_makes_a_new_epoch)
{
	const struct snapsafe_page *p;
	struct td m;
	uint32_t epoch;

	td_init(&m, t.binary);
	td_write_state(&m, "generation=4294967294\n");
	td_start_argv(&m, NULL);
	p = td_map_page(&m);
	assert_eq(td_u64(&m, "TRIGGER"), UINT32_MAX);
	{
		struct tconn c;

		tconn_open(&c, &m);
		tconn_expect_prefix(&c, "TRIGGER", "ERR EOVERFLOW");
		tconn_close(&c);
	}
	epoch = p->epoch;
	td_append(m.kmsg, "6,0,1,-;" VMFORK "\n");
	td_wait_log(&m, "Kernel reports a VM fork (kmsg seq 0)", 0);
	/* A request is answered only after the daemon finished handling the record. */
	assert_eq(td_status(&m).generation, UINT32_MAX);
	assert_eq(p->generation, UINT32_MAX);
	assert_ne(p->epoch, epoch);
	assert_eq(SNAPSAFE_EPOCH_ID(p->epoch), SNAPSAFE_NOTIFIER_VMFORK_KMSG);
	/* And it survives a restart at the maximum. */
	td_stop_signal(&m, SIGKILL);
	td_start_argv(&m, NULL);
	assert_eq(td_status(&m).generation, UINT32_MAX);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
	td_cleanup(&m);
}

/* A FIFO in place of /dev/kmsg: records arrive as the writer sends them. */
TEST(test_kmsg_fifo_feeds_the_notifier)
{
	struct td f;
	int fd;

	td_init(&f, t.binary);
	unlink(f.kmsg);
	assert_eq(mkfifo(f.kmsg, 0600), 0);
	td_start_argv(&f, NULL);
	assert_true(td_status(&f).notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMFORK_KMSG));
	/* The daemon holds the FIFO open itself, so this open does not block. */
	fd = open(f.kmsg, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	dprintf(fd, "14,0,1,-;" VMFORK "\n");
	dprintf(fd, "6,1,2,-;" VMFORK "\n");
	td_wait_log(&f, "Kernel reports a VM fork (kmsg seq 1)", 0);
	assert_eq(td_status(&f).generation, 1);
	/* The writer going away is no end of the log. */
	close(fd);
	fd = open(f.kmsg, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	dprintf(fd, "6,2,3,-;" VMFORK "\n");
	td_wait_log(&f, "Kernel reports a VM fork (kmsg seq 2)", 0);
	assert_eq(td_status(&f).generation, 2);
	close(fd);
	td_cleanup(&f);
}

/*
 * With a kernel /dev/sysgenid live (here its test file), one VM fork is logged and counted
 * by the device: the generation rises once, not once per notifier. The kernel logs the
 * record before it calls the module, so the record comes first here too.
 */
TEST(test_kmsg_vmfork_counted_once_when_a_sysgenid_device_is_live)
{
	static struct td f;
	uint32_t *word;
	unsigned before;
	int fd;

	td_init(&f, t.binary);
	fd = open(f.sysgenid, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		test_fail("create %s: %s", f.sysgenid, strerror(errno));
	word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(word != MAP_FAILED);
	td_start_argv(&f, NULL);
	assert_true(td_status(&f).notifiers_live & (1u << SNAPSAFE_NOTIFIER_SYSGENID));
	assert_eq(td_status(&f).generation, 0);

	before = td_log_count(&f, "kernel generation is now 1");
	td_append(f.kmsg, "6,0,1000,-;" VMFORK "\n");
	td_wait_log(&f, "Kernel reports a VM fork (kmsg seq 0)", 0);
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	td_wait_log(&f, "kernel generation is now 1", before);
	assert_eq(td_status(&f).generation, 1);
	assert_eq(td_status(&f).epoch_notifier, SNAPSAFE_NOTIFIER_SYSGENID);
	munmap(word, 4096);
	td_cleanup(&f);
}

int main(int argc, char **argv)
{
	td_init(&t, argc > 1 ? argv[1] : NULL);
	/* What a restored VM's log holds at boot, before snapsafed ever ran. */
	kmsg_record(&t, 6, "Linux version 6.18.0 (builder@host)");
	kmsg_record(&t, 6, VMFORK);
	kmsg_record(&t, 5, "random: crng init done");
	td_start_argv(&t, NULL);
	RUN(test_kmsg_records_before_the_first_start_never_raise);
	RUN(test_kmsg_kernel_vmfork_record_raises);
	RUN(test_kmsg_user_facility_never_raises);
	RUN(test_kmsg_vmfork_text_inside_another_kernel_record_never_raises);
	RUN(test_kmsg_malformed_and_continuation_lines_are_ignored);
	RUN(test_kmsg_restart_after_kill9_does_not_raise_again_for_a_handled_record);
	RUN(test_kmsg_record_logged_while_down_raises_once_on_restart);
	RUN(test_kmsg_record_logged_while_down_after_an_empty_first_start_raises);
	RUN(test_kmsg_fifo_feeds_the_notifier);
	RUN(test_kmsg_vmfork_at_the_maximum_generation_still_makes_a_new_epoch);
	RUN(test_kmsg_vmfork_counted_once_when_a_sysgenid_device_is_live);
	return td_finish(&t);
}
