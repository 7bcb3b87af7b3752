// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysgenid-test: the guest half of the kmod tests, a static program run inside the QEMU guests
 * with kmod/sysgenid.ko loaded (test/kmod/kmod-test.py drives it through the guest agent).
 *
 *   sysgenid-test abi                    every ABI rule of /dev/sysgenid, as root; exit 0 or fail
 *   sysgenid-test gen                    print "gen=<page> outdated_watchers=<n>"
 *   sysgenid-test watcher GOFILE         a watcher: print "KWATCH pid=<p> go=GOFILE gen=<g>", then
 *                                        on each raise "KWATCH pid=<p> read gen=<g> mono=<ns>",
 *                                        wait for GOFILE to exist, acknowledge, and print
 *                                        "KWATCH pid=<p> acked gen=<g> mono=<ns>"
 *   sysgenid-test wait-watchers MS       open, print "KWAIT ready", WAIT_WATCHERS(MS), print
 *                                        "KWAIT ret=<0|-errno> mono=<ns>"
 *   sysgenid-test monitor                not a watcher (tracking off): print "KMON gen=<g>", then
 *                                        "KRISE gen=<g> mono=<ns>" as soon as a blocking read()
 *                                        returns a raise (the kernel's own moment, no polling)
 *   sysgenid-test force MIN_GEN          FORCE_GEN_UPDATE; print the new generation
 *   sysgenid-test hold                   keep a mapping (the file closed) until killed
 *   sysgenid-test kmsg-mark              log "sysgenid-test: mono=<ns>" to /dev/kmsg, so that the
 *                                        host can put the kernel log's timestamps on our clock
 *
 * Lines start with a tag because the scenario sends them to the guest console, where the
 * client's lines are too; times are CLOCK_MONOTONIC, the clock of the agent's resume mark.
 * It is built statically (the guest has busybox and static programs only) and includes the
 * module's uapi header, so it tests the numbers that header documents.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "test.h"
#include "../../kmod/include/uapi/linux/sysgenid.h"

#define DEV "/dev/sysgenid"

enum {
	PAGE = 4096,
	NOBODY = 65534,
	/* A test that hangs is a failure too: no single step needs more than this. */
	STEP_TIMEOUT_S = 60,
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_dev(int flags)
{
	int fd = open(DEV, flags | O_CLOEXEC);

	if (fd < 0)
		test_fail("open %s: %s", DEV, strerror(errno));
	return fd;
}

/* The generation through a fresh read-only mapping. */
static uint32_t page_gen(void)
{
	int fd = open_dev(O_RDONLY);
	volatile uint32_t *p = mmap(NULL, 4, PROT_READ, MAP_SHARED, fd, 0);
	uint32_t g;

	if (p == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	g = p[0];
	munmap((void *)p, 4);
	close(fd);
	return g;
}

/* ioctl result or -errno. */
static long xioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

static long outdated(void)
{
	int fd = open_dev(O_RDONLY);
	long n = xioctl(fd, SYSGENID_GET_OUTDATED_WATCHERS, 0);

	close(fd);
	return n;
}

/* Raise as root; returns the new generation. */
static uint32_t force(uint32_t min_gen)
{
	int fd = open_dev(O_RDONLY);
	long r = xioctl(fd, SYSGENID_FORCE_GEN_UPDATE, min_gen);

	if (r != 0)
		test_fail("FORCE_GEN_UPDATE(%u): %s", min_gen, strerror((int)-r));
	close(fd);
	return page_gen();
}

/* read() result: bytes or -errno; the value in *ret_gen when 4 bytes came. */
static ssize_t xread(int fd, uint32_t *ret_gen, size_t len)
{
	uint32_t buf[4] = { 0 };
	ssize_t n = read(fd, buf, len);

	if (n < 0)
		return -errno;
	if (n == 4 && ret_gen)
		*ret_gen = buf[0];
	return n;
}

static ssize_t xwrite(int fd, uint32_t gen, size_t len)
{
	uint32_t buf[2] = { gen, gen };
	ssize_t n = write(fd, buf, len);

	return n < 0 ? -errno : n;
}

static short revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, 0);

	if (n < 0)
		test_fail("poll: %s", strerror(errno));
	return n == 0 ? 0 : p.revents;
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_eq(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

/* Wait until process pid sleeps (state S), i.e. is blocked in the call we want to observe. */
static void wait_sleeping(pid_t pid)
{
	char path[64], buf[512];
	uint64_t deadline = mono_ns() + (uint64_t)STEP_TIMEOUT_S * 1000000000u;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		FILE *f = fopen(path, "re");
		char *paren;

		if (!f)
			test_fail("%s: %s", path, strerror(errno));
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && paren[2] == 'S')
			return;
		if (mono_ns() > deadline)
			test_fail("process %d never blocked", (int)pid);
		usleep(1000);
	}
}

static int child_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st))
		test_fail("child %d died of signal %d", (int)pid, WTERMSIG(st));
	return WEXITSTATUS(st);
}

static bool child_exited(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == pid;
}

/* ---- the ABI ----------------------------------------------------------------------------- */

TEST(test_open_read_blocks_until_outdated)
{
	int fd = open_dev(O_RDWR);
	uint32_t g0 = page_gen(), g = 0;
	pid_t pid;

	/* A new file starts current: nothing to read, not readable. */
	set_nonblock(fd, true);
	assert_eq(xread(fd, &g, 4), -EAGAIN);
	assert_eq(revents(fd), 0);
	set_nonblock(fd, false);

	/* A blocking read waits for the next raise and returns it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		wait_sleeping(getppid());
		force(0);
		_exit(0);
	}
	assert_eq(xread(fd, &g, 4), 4);
	assert_eq(g, g0 + 1);
	assert_eq(child_status(pid), 0);

	/* Reading does not acknowledge: still outdated, a larger buffer still gets 4 bytes. */
	assert_eq(revents(fd), POLLIN);
	assert_eq(xread(fd, &g, 16), 4);
	assert_eq(g, g0 + 1);
	close(fd);
}

TEST(test_read_short_buffer_einval)
{
	int fd = open_dev(O_RDONLY | O_NONBLOCK);
	uint32_t g;

	assert_eq(xread(fd, &g, 3), -EINVAL);
	assert_eq(xread(fd, &g, 1), -EINVAL);
	force(0);
	/* Outdated or not, a short buffer is refused. */
	assert_eq(xread(fd, &g, 3), -EINVAL);
	close(fd);
}

TEST(test_write_acks_current_only)
{
	int fd = open_dev(O_RDWR | O_NONBLOCK);
	uint32_t g0 = page_gen(), g1, g = 0;

	/* Acknowledging the current generation while current is accepted and changes nothing. */
	assert_eq(xwrite(fd, g0, 4), 4);
	g1 = force(0);
	assert_eq(g1, g0 + 1);
	assert_eq(revents(fd), POLLIN);
	/* A stale generation, a future one, a short or a long buffer: EINVAL, still outdated. */
	assert_eq(xwrite(fd, g0, 4), -EINVAL);
	assert_eq(xwrite(fd, g1 + 1, 4), -EINVAL);
	assert_eq(xwrite(fd, g1, 3), -EINVAL);
	assert_eq(xwrite(fd, g1, 8), -EINVAL);
	assert_eq(revents(fd), POLLIN);
	assert_eq(xread(fd, &g, 4), 4);
	assert_eq(g, g1);
	/* The current one acknowledges: not readable any more. */
	assert_eq(xwrite(fd, g1, 4), 4);
	assert_eq(revents(fd), 0);
	assert_eq(xread(fd, &g, 4), -EAGAIN);
	close(fd);
}

TEST(test_poll_wakes_on_raise)
{
	int fd = open_dev(O_RDONLY);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		wait_sleeping(getppid());
		force(0);
		_exit(0);
	}
	assert_eq(poll(&p, 1, STEP_TIMEOUT_S * 1000), 1);
	assert_eq(p.revents, POLLIN);
	assert_eq(child_status(pid), 0);
	close(fd);
}

static bool vma_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false, found = false;

	assert_true(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* Only the header line of a mapping parses as a range. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = lo == (unsigned long)addr;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char want[8];

			snprintf(want, sizeof(want), " %s", flag);
			found = strstr(line, want) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

TEST(test_mmap_read_only_page)
{
	int ro = open_dev(O_RDONLY), rw = open_dev(O_RDWR);
	volatile uint32_t *p;
	void *q;
	uint32_t g;

	p = mmap(NULL, 4, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(p != MAP_FAILED);
	g = force(0);
	/* The page follows the generation in place. */
	assert_eq(p[0], g);
	/* Never dumped; never writable, not even later through mprotect. */
	assert_true(vma_flag((const void *)p, "dd"));
	assert_eq(mprotect((void *)p, PAGE, PROT_READ | PROT_WRITE), -1);
	assert_eq(errno, EACCES);
	/* The rest of the page is zero. */
	for (size_t i = 1; i < PAGE / 4; i++)
		assert_eq(p[i], 0);

	/* A private mapping reads the same page. */
	q = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, 0);
	assert_true(q != MAP_FAILED);
	assert_eq(*(volatile uint32_t *)q, g);
	munmap(q, PAGE);

	/* PROT_WRITE: EPERM, shared on a read-write file or private on a read-only one. */
	q = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	assert_true(q == MAP_FAILED);
	assert_eq(errno, EPERM);
	q = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	assert_true(q == MAP_FAILED);
	assert_eq(errno, EPERM);
	/* More than one page, or any offset but 0: EINVAL. */
	q = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(q == MAP_FAILED);
	assert_eq(errno, EINVAL);
	q = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, PAGE);
	assert_true(q == MAP_FAILED);
	assert_eq(errno, EINVAL);

	munmap((void *)p, 4);
	close(ro);
	close(rw);
}

TEST(test_outdated_watchers_count)
{
	int a, b, c;
	uint32_t g;

	assert_eq(outdated(), 0);
	a = open_dev(O_RDWR);
	b = open_dev(O_RDWR);
	assert_eq(xioctl(a, SYSGENID_GET_OUTDATED_WATCHERS, 0), 0);
	g = force(0);
	/* Both files lived through the raise; the ones opened since (by outdated()) did not. */
	assert_eq(outdated(), 2);
	c = open_dev(O_RDWR);
	assert_eq(xioctl(c, SYSGENID_GET_OUTDATED_WATCHERS, 0), 2);
	/* A refused acknowledgement counts for nothing. */
	assert_eq(xwrite(a, g - 1, 4), -EINVAL);
	assert_eq(outdated(), 2);
	assert_eq(xwrite(a, g, 4), 4);
	assert_eq(outdated(), 1);
	/* A second acknowledgement of the same generation is not counted twice. */
	assert_eq(xwrite(a, g, 4), 4);
	assert_eq(outdated(), 1);
	assert_eq(xwrite(b, g, 4), 4);
	assert_eq(outdated(), 0);
	/* Raising again while nobody caught up: every watcher once, not once per raise. */
	force(0);
	g = force(0);
	assert_eq(outdated(), 3);
	assert_eq(xwrite(c, g, 4), 4);
	assert_eq(outdated(), 2);
	close(a);
	close(b);
	close(c);
}

TEST(test_close_stops_counting)
{
	int a = open_dev(O_RDWR), b = open_dev(O_RDWR);
	pid_t pid;

	force(0);
	assert_eq(outdated(), 2);
	close(b);
	assert_eq(outdated(), 1);
	/* A watcher that dies without closing stops counting too. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		open_dev(O_RDWR);
		force(0);
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	/* a again outdated (it never acked the first raise either): 1 watcher. */
	assert_eq(outdated(), 1);
	close(a);
	assert_eq(outdated(), 0);
}

TEST(test_wait_watchers_timeout_and_own_staleness)
{
	int a = open_dev(O_RDWR), b;

	/* Nobody outdated: returns 0 at once, with or without a timeout. */
	assert_eq(xioctl(a, SYSGENID_WAIT_WATCHERS, 0), 0);
	assert_eq(xioctl(a, SYSGENID_WAIT_WATCHERS, 100), 0);
	force(0);
	/* The caller is outdated itself: EINTR at once, even with no timeout (0 = forever). */
	alarm(STEP_TIMEOUT_S);
	assert_eq(xioctl(a, SYSGENID_WAIT_WATCHERS, 0), -EINTR);
	assert_eq(xioctl(a, SYSGENID_E4_WAIT_WATCHERS, 0), -EINTR);
	alarm(0);
	/* A current caller waiting for the outdated a: ETIMEDOUT at the timeout. */
	b = open_dev(O_RDWR);
	assert_eq(xioctl(b, SYSGENID_WAIT_WATCHERS, 50), -ETIMEDOUT);
	assert_eq(xioctl(b, SYSGENID_E4_WAIT_WATCHERS, 50), -ETIMEDOUT);
	close(a);
	assert_eq(xioctl(b, SYSGENID_WAIT_WATCHERS, 50), 0);
	close(b);
}

static void on_signal(int sig)
{
	(void)sig;
}

TEST(test_wait_watchers_returns_when_all_ack)
{
	int a = open_dev(O_RDWR), b = open_dev(O_RDWR);
	uint32_t g = force(0);
	pid_t pid;

	assert_eq(outdated(), 2);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int w = open_dev(O_RDONLY);

		alarm(STEP_TIMEOUT_S);
		_exit(xioctl(w, SYSGENID_WAIT_WATCHERS, 0) == 0 ? 0 : 1);
	}
	wait_sleeping(pid);
	assert_eq(xwrite(a, g, 4), 4);
	/* One watcher still outdated: the waiter stays blocked. */
	wait_sleeping(pid);
	assert_true(!child_exited(pid));
	assert_eq(xwrite(b, g, 4), 4);
	assert_eq(child_status(pid), 0);
	close(a);
	close(b);
}

TEST(test_wait_watchers_raise_makes_waiter_outdated)
{
	int a = open_dev(O_RDWR);
	pid_t pid;

	force(0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int w = open_dev(O_RDONLY);

		alarm(STEP_TIMEOUT_S);
		/* Blocked waiting for a; then a raise makes the waiter itself outdated. */
		_exit(xioctl(w, SYSGENID_WAIT_WATCHERS, 0) == -EINTR ? 0 : 1);
	}
	wait_sleeping(pid);
	force(0);
	assert_eq(child_status(pid), 0);
	close(a);
}

TEST(test_wait_watchers_signal_eintr)
{
	int a = open_dev(O_RDWR);
	pid_t pid;

	force(0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_signal };
		int w = open_dev(O_RDONLY);

		/* No SA_RESTART: the interrupted wait must come back as EINTR, not restart. */
		sigaction(SIGUSR1, &sa, NULL);
		alarm(STEP_TIMEOUT_S);
		_exit(xioctl(w, SYSGENID_WAIT_WATCHERS, 0) == -EINTR ? 0 : 1);
	}
	wait_sleeping(pid);
	kill(pid, SIGUSR1);
	assert_eq(child_status(pid), 0);
	close(a);
}

TEST(test_force_min_gen)
{
	int fd = open_dev(O_RDONLY);
	uint32_t g = page_gen();

	/* max(cur + 1, min_gen) */
	assert_eq(force(g + 10), g + 10);
	assert_eq(force(3), g + 11);
	assert_eq(force(g + 11), g + 12);
	assert_eq(xioctl(fd, SYSGENID_E4_TRIGGER_GEN_UPDATE, g + 20), 0);
	assert_eq(page_gen(), g + 20);
	/* min_gen must fit the 32-bit generation. */
	assert_eq(xioctl(fd, SYSGENID_FORCE_GEN_UPDATE, 1ul << 32), -EINVAL);
	assert_eq(page_gen(), g + 20);
	close(fd);
}

/* Drop to uid/gid 65534 keeping only the capabilities in keep (a bit mask over 0..63). */
static void become_nobody(uint64_t keep)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		test_fail("PR_SET_KEEPCAPS: %s", strerror(errno));
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		test_fail("setuid(%d): %s", NOBODY, strerror(errno));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		test_fail("capset: %s", strerror(errno));
	assert_eq(getuid(), NOBODY);
}

/* In a child as nobody with caps: the results of both force ioctls, as 0 or an errno. */
static void check_force_as(uint64_t caps, int want)
{
	uint32_t g = page_gen();
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		become_nobody(caps);
		/* The device is 0666: anyone may watch. */
		fd = open_dev(O_RDWR);
		assert_eq(xioctl(fd, SYSGENID_FORCE_GEN_UPDATE, 0), want ? -want : 0);
		assert_eq(xioctl(fd, SYSGENID_E4_TRIGGER_GEN_UPDATE, 0), want ? -want : 0);
		/* Everything else works unprivileged; our own file is outdated if we raised. */
		assert_eq(xioctl(fd, SYSGENID_GET_OUTDATED_WATCHERS, 0), want ? 0 : 1);
		_exit(0);
	}
	assert_eq(child_status(pid), 0);
	assert_eq(page_gen(), want ? g : g + 2);
}

TEST(test_force_needs_capability)
{
	check_force_as(0, EACCES);
	check_force_as(1ull << CAP_NET_ADMIN, EACCES);
	check_force_as(1ull << CAP_CHECKPOINT_RESTORE, 0);
	check_force_as(1ull << CAP_SYS_ADMIN, 0);
}

TEST(test_e4_watcher_tracking)
{
	int a = open_dev(O_RDWR), b = open_dev(O_RDWR);
	uint32_t g;
	FILE *param;

	g = force(0);
	assert_eq(outdated(), 2);
	/* Tracking off: a stops counting but is still outdated for itself. */
	assert_eq(xioctl(a, SYSGENID_SET_WATCHER_TRACKING, 0), 0);
	assert_eq(outdated(), 1);
	assert_eq(revents(a), POLLIN);
	assert_eq(xioctl(a, SYSGENID_SET_WATCHER_TRACKING, 0), 0);
	assert_eq(outdated(), 1);
	/* Tracking on again: counted once, however often it is asked. */
	assert_eq(xioctl(a, SYSGENID_SET_WATCHER_TRACKING, 1), 0);
	assert_eq(xioctl(a, SYSGENID_SET_WATCHER_TRACKING, 1), 0);
	assert_eq(outdated(), 2);
	/* An untracked file acknowledging does not touch the count. */
	assert_eq(xioctl(b, SYSGENID_SET_WATCHER_TRACKING, 0), 0);
	assert_eq(outdated(), 1);
	assert_eq(xwrite(b, g, 4), 4);
	assert_eq(outdated(), 1);
	/* Tracking a current file adds a watcher, not an outdated one. */
	assert_eq(xioctl(b, SYSGENID_SET_WATCHER_TRACKING, 1), 0);
	assert_eq(outdated(), 1);
	g = force(0);
	assert_eq(outdated(), 2);
	assert_eq(xwrite(a, g, 4), 4);
	assert_eq(xwrite(b, g, 4), 4);
	assert_eq(outdated(), 0);

	/* track_on_open=0: Amazon Linux's opt-in tracking for files opened from now on. */
	param = fopen("/sys/module/sysgenid/parameters/track_on_open", "we");
	assert_true(param != NULL);
	fputs("0\n", param);
	assert_eq(fclose(param), 0);
	close(b);
	b = open_dev(O_RDWR);
	param = fopen("/sys/module/sysgenid/parameters/track_on_open", "we");
	assert_true(param != NULL);
	fputs("1\n", param);
	assert_eq(fclose(param), 0);
	force(0);
	assert_eq(outdated(), 1);
	assert_eq(xioctl(b, SYSGENID_SET_WATCHER_TRACKING, 1), 0);
	assert_eq(outdated(), 2);
	close(a);
	close(b);
	assert_eq(outdated(), 0);
}

TEST(test_unknown_ioctl_enotty)
{
	int fd = open_dev(O_RDONLY);

	assert_eq(xioctl(fd, _IO(SYSGENID_IOCTL, 4), 0), -ENOTTY);
	assert_eq(xioctl(fd, _IO(SYSGENID_E4_IOCTL, 4), 0), -ENOTTY);
	assert_eq(xioctl(fd, _IO(SYSGENID_IOCTL, 0), 0), -ENOTTY);
	close(fd);
}

static int cmd_abi(void)
{
	if (geteuid() != 0)
		test_fail("the ABI test runs as root in the guest");
	RUN(test_open_read_blocks_until_outdated);
	RUN(test_read_short_buffer_einval);
	RUN(test_write_acks_current_only);
	RUN(test_poll_wakes_on_raise);
	RUN(test_mmap_read_only_page);
	RUN(test_outdated_watchers_count);
	RUN(test_close_stops_counting);
	RUN(test_wait_watchers_timeout_and_own_staleness);
	RUN(test_wait_watchers_returns_when_all_ack);
	RUN(test_wait_watchers_raise_makes_waiter_outdated);
	RUN(test_wait_watchers_signal_eintr);
	RUN(test_force_min_gen);
	RUN(test_force_needs_capability);
	RUN(test_e4_watcher_tracking);
	RUN(test_unknown_ioctl_enotty);
	printf("ABI-OK\n");
	return 0;
}

/* ---- helpers for the clone scenario ------------------------------------------------------ */

static int cmd_gen(void)
{
	printf("gen=%" PRIu32 " outdated_watchers=%ld\n", page_gen(), outdated());
	return 0;
}

/* Acknowledge the newest generation, reading again when a raise overtook us. */
static uint32_t ack_current(int fd, uint32_t g)
{
	ssize_t n;

	while ((n = xwrite(fd, g, 4)) == -EINVAL)
		if (xread(fd, &g, 4) != 4)
			test_fail("re-read failed");
	if (n != 4)
		test_fail("write: %s", strerror((int)-n));
	return g;
}

static int cmd_watcher(const char *gofile)
{
	int fd = open_dev(O_RDWR);
	int pid = (int)getpid();
	uint32_t g = 0;

	printf("KWATCH pid=%d go=%s gen=%" PRIu32 "\n", pid, gofile, page_gen());
	for (;;) {
		struct stat st;
		ssize_t n = xread(fd, &g, 4);

		if (n != 4)
			test_fail("read: %s", strerror((int)-n));
		printf("KWATCH pid=%d read gen=%" PRIu32 " mono=%" PRIu64 "\n", pid, g, mono_ns());
		while (stat(gofile, &st) < 0)
			usleep(2000);
		g = ack_current(fd, g);
		printf("KWATCH pid=%d acked gen=%" PRIu32 " mono=%" PRIu64 "\n", pid, g, mono_ns());
	}
}

static int cmd_wait_watchers(unsigned long ms)
{
	int fd = open_dev(O_RDONLY);
	long r;

	printf("KWAIT ready\n");
	r = xioctl(fd, SYSGENID_WAIT_WATCHERS, ms);
	printf("KWAIT ret=%ld mono=%" PRIu64 "\n", r, mono_ns());
	return 0;
}

static int cmd_monitor(void)
{
	int fd = open_dev(O_RDWR);
	uint32_t g = 0;

	/* Not a watcher: the counts the scenario checks are the watchers' alone. */
	if (xioctl(fd, SYSGENID_SET_WATCHER_TRACKING, 0) != 0)
		test_fail("SET_WATCHER_TRACKING(0) failed");
	printf("KMON gen=%" PRIu32 "\n", page_gen());
	for (;;) {
		ssize_t n = xread(fd, &g, 4);
		uint64_t t = mono_ns();

		if (n != 4)
			test_fail("read: %s", strerror((int)-n));
		printf("KRISE gen=%" PRIu32 " mono=%" PRIu64 "\n", g, t);
		ack_current(fd, g);
	}
}

static int cmd_hold(void)
{
	int fd = open_dev(O_RDONLY);
	void *p = mmap(NULL, 4, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	/* The mapping keeps the file, and so the module, alive after close. */
	close(fd);
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}

/*
 * The kernel log stamps records with local_clock(), not CLOCK_MONOTONIC: one record carrying
 * both lets the host convert the stamps of the module's and random.c's records.
 */
static int cmd_kmsg_mark(void)
{
	char line[80];
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	int n;

	if (fd < 0)
		test_fail("/dev/kmsg: %s", strerror(errno));
	n = snprintf(line, sizeof(line), "sysgenid-test: mono=%" PRIu64 "\n", mono_ns());
	if (write(fd, line, (size_t)n) != n)
		test_fail("write /dev/kmsg: %s", strerror(errno));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "abi") == 0)
		return cmd_abi();
	if (argc == 2 && strcmp(argv[1], "gen") == 0)
		return cmd_gen();
	if (argc == 3 && strcmp(argv[1], "watcher") == 0)
		return cmd_watcher(argv[2]);
	if (argc == 3 && strcmp(argv[1], "wait-watchers") == 0)
		return cmd_wait_watchers(strtoul(argv[2], NULL, 0));
	if (argc == 2 && strcmp(argv[1], "monitor") == 0)
		return cmd_monitor();
	if (argc == 3 && strcmp(argv[1], "force") == 0) {
		printf("gen=%" PRIu32 "\n", force((uint32_t)strtoul(argv[2], NULL, 0)));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "hold") == 0)
		return cmd_hold();
	if (argc == 2 && strcmp(argv[1], "kmsg-mark") == 0)
		return cmd_kmsg_mark();
	fprintf(stderr, "usage: sysgenid-test abi|gen|watcher GOFILE|wait-watchers MS|monitor|"
		"force MIN|hold|kmsg-mark\n");
	return 2;
}
