/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page's publication order (src/daemon/page-file.c), instruction by instruction: a
 * child process publishes one change while this process single-steps it with ptrace and
 * reads the shared page after every instruction. As long as the gen/epoch word still
 * holds its old value, the page may permit nothing the old page did not: QUIESCED stays
 * set if it was, RUNNING and live bits appear only with or after the new gen/epoch, the
 * settled VMClock marker moves only after it. A library that read the old gen/epoch, saw a
 * resume's cleared QUIESCED and served before the new gen/epoch arrived would pass its
 * own check after serving with the generation of before the resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "page-file.h"
#include "page.h"
#include "test.h"

enum {
	MAX_STEPS = 5000000,	/* a publication is a few hundred instructions */
	DEADLINE_S = 60,
};

struct page_view {
	uint64_t gen_epoch;
	uint32_t flags;
	uint64_t live;
	uint64_t settled;
};

static char dir[] = "/tmp/snapsafe-page-publish-XXXXXX";
static char path[sizeof(dir) + 8];
static struct page_file *pf;
static const struct snapsafe_page *view;

static struct page_view read_view(void)
{
	struct page_view w = {
		.gen_epoch = snapsafe_page_gen_epoch(view),
		.flags = __atomic_load_n(&view->flags, __ATOMIC_ACQUIRE),
		.live = __atomic_load_n(&view->live_notifiers, __ATOMIC_ACQUIRE),
		.settled = __atomic_load_n(&view->vmclock_settled, __ATOMIC_ACQUIRE),
	};
	return w;
}

/* While the gen/epoch word is the old one, the page grants no more than the old page. */
static bool grants_no_more(const struct page_view *now, const struct page_view *old)
{
	if ((old->flags & SNAPSAFE_PAGE_QUIESCED) && !(now->flags & SNAPSAFE_PAGE_QUIESCED))
		return false;
	if ((now->flags & SNAPSAFE_PAGE_RUNNING) && !(old->flags & SNAPSAFE_PAGE_RUNNING))
		return false;
	if (now->live & ~old->live)
		return false;
	return now->settled == old->settled;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Publish @to over @from, single-stepping the publisher. Return: the number of steps
 * during which the old gen/epoch was still visible (so the caller knows the observation
 * saw the change happen, not only its end).
 */
static unsigned long step_publication(const char *name, const struct core_values *from,
				      const struct core_values *to)
{
	struct page_view old, now;
	unsigned long steps = 0, before_word = 0;
	struct timespec t0;
	pid_t pid;
	int st;

	assert_eq(page_file_sink.publish(pf, from, CORE_CHANGE_ALL), 0);
	old = read_view();
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(3);
		raise(SIGSTOP);
		_exit(page_file_sink.publish(pf, to, CORE_CHANGE_ALL) == 0 ? 0 : 4);
	}
	if (waitpid(pid, &st, 0) != pid)
		test_fail("%s: waitpid: %s", name, strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		test_skip("ptrace(PTRACE_TRACEME) is not allowed here");
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		test_fail("%s: the publisher did not stop for tracing (status %#x)", name, st);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) < 0)
			test_fail("%s: PTRACE_SINGLESTEP: %s", name, strerror(errno));
		if (waitpid(pid, &st, 0) != pid)
			test_fail("%s: waitpid: %s", name, strerror(errno));
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
			kill(pid, SIGKILL);
			test_fail("%s: the publisher stopped with status %#x", name, st);
		}
		steps++;
		now = read_view();
		if (now.gen_epoch == old.gen_epoch) {
			before_word++;
			if (!grants_no_more(&now, &old)) {
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				test_fail("%s: after %lu instructions the page grants more than before "
					  "with the old gen/epoch %#llx: flags %#x (were %#x), live %#llx "
					  "(was %#llx), settled %llu (was %llu)", name, steps,
					  (unsigned long long)now.gen_epoch, now.flags, old.flags,
					  (unsigned long long)now.live, (unsigned long long)old.live,
					  (unsigned long long)now.settled,
					  (unsigned long long)old.settled);
			}
		}
		if (steps > MAX_STEPS || elapsed_s(&t0) > DEADLINE_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			test_fail("%s: the publisher did not finish in %lu steps / %d s", name,
				  steps, DEADLINE_S);
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		test_fail("%s: the publisher ended with status %#x", name, st);
	now = read_view();
	assert_eq(now.gen_epoch, snapsafe_gen_epoch_pack(to->generation, core_epoch_word(to)));
	assert_eq(now.flags, (to->running ? SNAPSAFE_PAGE_RUNNING : 0u) |
			     (to->quiesced ? SNAPSAFE_PAGE_QUIESCED : 0u));
	assert_eq(now.live, to->running ? to->live : 0);
	assert_eq(now.settled, to->vmclock_settled);
	fprintf(stderr, "%s: %lu instructions, %lu with the old gen/epoch\n", name, steps,
		before_word);
	return before_word;
}

static struct core_values running(uint32_t gen, uint32_t epoch)
{
	struct core_values v = {
		.generation = gen,
		.epoch_counter = epoch,
		.epoch_id = SNAPSAFE_NOTIFIER_CONTROL,
		.running = true,
		.live = 1ull << SNAPSAFE_NOTIFIER_VMFORK_KMSG | 1ull << SNAPSAFE_NOTIFIER_CONTROL,
		.vmclock_settled = 7,
	};
	return v;
}

/* The case that was broken: a resume clears QUIESCED with a raise. */
TEST(test_resume_clears_quiesced_after_the_raise)
{
	struct core_values a = running(5, 20), b = running(6, 21);

	a.quiesced = true;
	assert_true(step_publication("resume", &a, &b) > 0);
}

TEST(test_start_sets_running_after_the_new_epoch)
{
	struct core_values a = running(5, 20), b = running(5, 21);

	a.running = false;
	assert_true(step_publication("start", &a, &b) > 0);
}

TEST(test_live_bits_appear_after_the_new_epoch)
{
	struct core_values a = running(5, 20), b = running(5, 21);

	b.live |= 1ull << SNAPSAFE_NOTIFIER_VMCLOCK;
	assert_true(step_publication("live", &a, &b) > 0);
}

TEST(test_settled_marker_moves_after_the_raise)
{
	struct core_values a = running(5, 20), b = running(6, 21);

	b.vmclock_settled = 8;
	assert_true(step_publication("settle", &a, &b) > 0);
}

/* What forbids serving was already published first; kept so that it stays so. */
TEST(test_quiesce_and_stop_forbid_before_the_new_epoch)
{
	struct core_values a = running(5, 20), b = running(5, 21), c = running(5, 22);

	b.quiesced = true;
	assert_true(step_publication("quiesce", &a, &b) > 0);
	c.running = false;
	assert_true(step_publication("stop", &a, &c) > 0);
}

int main(void)
{
	int fd;

	if (!mkdtemp(dir))
		test_fail("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/page", dir);
	assert_eq(page_file_open(path, &pf), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	view = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(view != MAP_FAILED);
	close(fd);

	RUN(test_resume_clears_quiesced_after_the_raise);
	RUN(test_start_sets_running_after_the_new_epoch);
	RUN(test_live_bits_appear_after_the_new_epoch);
	RUN(test_settled_marker_moves_after_the_raise);
	RUN(test_quiesce_and_stop_forbid_before_the_new_epoch);

	page_file_close(pf);
	unlink(path);
	rmdir(dir);
	return 0;
}
