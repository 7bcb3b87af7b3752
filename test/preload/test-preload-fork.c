/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Children: a fork child reseeds (its engine state was wiped by the kernel) and the parent goes
 * on with its own; a vfork child, which runs on its parent's memory and TLS, is served by the
 * kernel and touches nothing of the parent's engine: the parent's next bytes are still the
 * ones it held before (checked with the observed shim's peek), and a thread that had no
 * engine state has none after its vfork child drew. Also: a vfork child's own vfork, a vfork
 * that fails (the mark is put back, errno is set), vfork + exec, posix_spawn() and system().
 * SNAPSAFE_ENGINE=always.
 */
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

#include "deadline.h"
#include "preload-test.h"

extern char **environ;

static struct observe o;

/* What a vfork child leaves for its parent: it shares the parent's memory. */
static volatile struct {
	ssize_t getrandom;
	int getentropy;
	unsigned int depth, depth_after_own_vfork;
	pid_t pid;
	uint8_t bytes[4][16];
} child;

static void reset_child(void)
{
	memset((void *)&child, 0, sizeof(child));
}

/* The vfork child's requests: all of the interposed functions. */
static void child_draws(void)
{
	child.depth = o.vfork_depth();
	child.pid = getpid();
	child.getrandom = getrandom((void *)child.bytes[0], 16, 0);
	child.getentropy = getentropy((void *)child.bytes[1], 16);
	arc4random_buf((void *)child.bytes[2], 16);
	*(volatile uint32_t *)(void *)child.bytes[3] = arc4random();
	(void)arc4random_uniform(1000);
}

static void wait_for(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail("%s: the child ended with status %#x", what, status);
}

/*
 * A vfork child that makes every request (child_draws()) and exits; returns once it has. The
 * child never returns from here: it runs on this frame until _exit().
 */
static void vfork_child_draws(const char *what)
{
	pid_t pid;

	reset_child();
	pid = vfork();
	if (pid == 0) {
		child_draws();
		_exit(0);
	}
	if (pid < 0)
		test_fail("vfork: %s", strerror(errno));
	wait_for(pid, what);
	assert_eq(child.pid, pid);
	assert_eq(child.getrandom, 16);
	assert_eq(child.getentropy, 0);
}

/* The parent's next 16 bytes are still @want: nothing drew from its engine meanwhile. */
static void assert_engine_untouched(const uint8_t want[16], const char *what)
{
	uint8_t b[16];

	if (o.vfork_depth() != 0)
		test_fail("after %s the parent is still marked as a vfork child", what);
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	if (memcmp(b, want, sizeof(b)) != 0)
		test_fail("%s drew from the parent's engine state", what);
}

static void fork_child_reseeds(void *arg)
{
	const uint8_t *parent_next = arg;
	uint8_t b[32], p[16];

	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	if (memcmp(b, parent_next, 16) == 0 || memcmp(b + 16, parent_next + 16, 16) == 0)
		test_fail("the fork child served the parent's next bytes");
	/* And its own engine serves it from then on. */
	peek_next(&o, p, sizeof(p));
	assert_eq(getrandom(b, 16, 0), 16);
	assert_mem_eq(b, p, 16);
}

TEST(test_fork_child_reseeds_and_the_parent_keeps_its_state)
{
	uint8_t next[32];

	peek_next(&o, next, sizeof(next));
	child_expect_exit0(child_start(fork_child_reseeds, next), 30000, "drawing after fork()");
	assert_engine_untouched(next, "a fork child");
}

TEST(test_vfork_child_is_served_by_the_kernel)
{
	uint8_t next[32];

	peek_next(&o, next, sizeof(next));
	vfork_child_draws("a vfork child drawing");
	if (child.depth != 1)
		test_fail("the vfork child ran unmarked (depth %u): vfork is not the shim's",
			  child.depth);
	for (int i = 0; i < 3; i++)
		assert_true(memcmp((const void *)child.bytes[i], next, 16) != 0 &&
			    memcmp((const void *)child.bytes[i], next + 16, 16) != 0);
	assert_engine_untouched(next, "the vfork child");
}

static void *fresh_thread_vforks(void *arg)
{
	uint8_t b[16];

	(void)arg;
	if (o.has_state())
		test_fail("a new thread already has engine state");
	vfork_child_draws("a vfork child of a fresh thread drawing");
	/* The child ran on this thread's TLS: a slot it took would be this thread's now. */
	if (o.has_state())
		test_fail("the vfork child allocated engine state in its parent's thread");
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	assert_true(o.has_state());
	return NULL;
}

TEST(test_vfork_child_of_a_fresh_thread_allocates_nothing)
{
	pthread_t t;

	assert_eq(pthread_create(&t, NULL, fresh_thread_vforks, NULL), 0);
	assert_eq(pthread_join(t, NULL), 0);
}

TEST(test_vfork_child_stays_marked_after_its_own_vfork)
{
	uint8_t next[32];
	pid_t pid, inner;
	int status;

	peek_next(&o, next, sizeof(next));
	reset_child();
	pid = vfork();
	if (pid == 0) {
		inner = vfork();
		if (inner == 0)
			_exit(0);
		if (inner < 0 || waitpid(inner, &status, 0) != inner)
			_exit(3);
		child.depth_after_own_vfork = o.vfork_depth();
		child_draws();
		_exit(0);
	}
	if (pid < 0)
		test_fail("vfork: %s", strerror(errno));
	wait_for(pid, "a vfork child that vforks");
	assert_eq(child.depth_after_own_vfork, 1);
	assert_eq(child.getrandom, 16);
	assert_engine_untouched(next, "a vfork child after its own vfork");
}

static void vfork_fails(void *arg)
{
	uint8_t next[16], b[16];

	(void)arg;
	refuse_syscalls(SYS_vfork, EAGAIN, -1, 0);
	peek_next(&o, next, sizeof(next));
	errno = 0;
	assert_eq(vfork(), -1);
	assert_eq(errno, EAGAIN);
	assert_eq(o.vfork_depth(), 0);
	/* Still the engine's: the mark was put back. */
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	assert_mem_eq(b, next, sizeof(next));
}

TEST(test_failed_vfork_sets_errno_and_puts_the_mark_back)
{
	pid_t pid = child_start(vfork_fails, NULL);
	int status;

	if (!child_wait_until(pid, deadline_now_ms() + 30000, &status))
		test_fail("a failing vfork hung");
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEST_SKIP)
		test_skip("seccomp filters are not available");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail("a failing vfork: status %#x", status);
}

TEST(test_vfork_exec_posix_spawn_and_system)
{
	char *argv[] = { (char *)"true", NULL };
	uint8_t next[16];
	pid_t pid;

	peek_next(&o, next, sizeof(next));
	pid = vfork();
	if (pid == 0) {
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	if (pid < 0)
		test_fail("vfork: %s", strerror(errno));
	wait_for(pid, "vfork + execve(/bin/true)");
	assert_eq(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ), 0);
	wait_for(pid, "posix_spawn(/bin/true)");
	assert_eq(system("exit 0"), 0);
	assert_engine_untouched(next, "vfork + exec, posix_spawn or system");
}

int main(void)
{
	if (!engine_expected())
		test_fail("this test needs SNAPSAFE_ENGINE=always in the environment");
	assert_interposed();
	o = observe_functions();
	RUN(test_fork_child_reseeds_and_the_parent_keeps_its_state);
	RUN(test_vfork_child_is_served_by_the_kernel);
	RUN(test_vfork_child_of_a_fresh_thread_allocates_nothing);
	RUN(test_vfork_child_stays_marked_after_its_own_vfork);
	RUN(test_failed_vfork_sets_errno_and_puts_the_mark_back);
	RUN(test_vfork_exec_posix_spawn_and_system);
	return 0;
}
