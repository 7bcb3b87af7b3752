/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waits with deadlines for the tests that hunt hangs: a child process (through a pidfd, so
 * the wait ends at the deadline even when the child never exits), and a flag one thread
 * raises for another (a condition variable on CLOCK_MONOTONIC). Every wait that reaches its
 * deadline fails the test with a message naming what it waited for; none sleeps to
 * synchronise. Header only.
 */
#ifndef SNAPSAFE_TEST_DEADLINE_H
#define SNAPSAFE_TEST_DEADLINE_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static inline uint64_t deadline_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * child_start() - fork a child that runs @fn(@arg) and then exits 0 (@fn may _exit() with
 * another code). The child gets SIGKILL when the thread that forked it ends, so a hung
 * child never outlives a test that gave up on it. Wait for it with child_expect_exit0().
 */
static inline pid_t child_start(void (*fn)(void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(EXIT_FAILURE);
		fn(arg);
		_exit(0);
	}
	return pid;
}

/* Wait for @pid until @deadline_ms (CLOCK_MONOTONIC); false, child left running, if not gone. */
static inline bool child_wait_until(pid_t pid, uint64_t deadline_ms, int *ret_status)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		test_fail("pidfd_open: %s", strerror(errno));
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		uint64_t now = deadline_now_ms();
		int r;

		if (now >= deadline_ms) {
			close(pidfd);
			return false;
		}
		r = poll(&p, 1, (int)(deadline_ms - now));
		if (r < 0 && errno != EINTR)
			test_fail("poll: %s", strerror(errno));
		if (r > 0)
			break;
	}
	close(pidfd);
	while (waitpid(pid, ret_status, 0) != pid)
		if (errno != EINTR)
			test_fail("waitpid: %s", strerror(errno));
	return true;
}

/*
 * child_expect_exit0() - the child must exit with 0 within @timeout_ms. At the deadline it
 * is killed and the test fails, saying @what the child was doing.
 */
static inline void child_expect_exit0(pid_t pid, unsigned timeout_ms, const char *what)
{
	int status;

	if (!child_wait_until(pid, deadline_now_ms() + timeout_ms, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		test_fail("a child did not finish %s within %u ms: it is blocked (deadlock)", what,
			  timeout_ms);
	}
	if (WIFSIGNALED(status))
		test_fail("a child was killed by signal %d while %s", WTERMSIG(status), what);
	if (WEXITSTATUS(status) != 0)
		test_fail("a child exited with %d while %s", WEXITSTATUS(status), what);
}

/*
 * wait_until() - spin (yielding the CPU) until @cond holds; fail with @what after @timeout_ms.
 * For waits that must end as soon as possible, e.g. fork at once when a thread has started.
 */
#define wait_until(cond, timeout_ms, what) do {					\
		uint64_t _end = deadline_now_ms() + (timeout_ms);		\
										\
		while (!(cond)) {						\
			if (deadline_now_ms() > _end)				\
				test_fail("waited %u ms for %s", (unsigned)(timeout_ms), (what)); \
			sched_yield();						\
		}								\
	} while (0)

/* A flag one thread raises and another waits for, with a deadline. */
struct flag {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool raised;
};

static inline void flag_init(struct flag *f)
{
	pthread_condattr_t a;

	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &a);
	pthread_condattr_destroy(&a);
	f->raised = false;
}

static inline void flag_raise(struct flag *f)
{
	pthread_mutex_lock(&f->lock);
	f->raised = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Wait until @f is raised; fail with @what after @timeout_ms. */
static inline void flag_wait(struct flag *f, unsigned timeout_ms, const char *what)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->lock);
	while (!f->raised && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	pthread_mutex_unlock(&f->lock);
	if (!f->raised)
		test_fail("waited %u ms for %s", timeout_ms, what);
}

#endif
