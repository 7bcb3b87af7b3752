/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generation API against the real snapsafed: watchers (blocking and non-blocking read,
 * acknowledge, poll readiness), the outdated count, wait-for-watchers with its timeout and
 * -EDEADLK cases, trigger with min_gen, quiesce and resume. Outdated watchers that must not
 * belong to this process (the daemon refuses to wait for the caller's own) live in a child.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>

#include <snapsafe/snapsafe.h>

#include "client.h"
#include "control.h"
#include "daemon-util.h"
#include "reader-thread.h"

static struct td daemon_;

static uint32_t trigger(uint32_t min_gen)
{
	int64_t g = snapsafe_trigger(min_gen);

	if (g <= 0)
		test_fail("snapsafe_trigger(%u) = %lld", min_gen, (long long)g);
	return (uint32_t)g;
}

static struct snapsafe_watcher *watcher(unsigned flags)
{
	struct snapsafe_watcher *w = NULL;

	assert_eq(snapsafe_watcher_open(flags, &w), 0);
	assert_true(w != NULL);
	return w;
}

/* poll() the watcher's fd; @ms is a hang guard where readiness is expected. */
static short poll_fd(struct snapsafe_watcher *w, int ms)
{
	struct pollfd p = { .fd = snapsafe_watcher_fd(w), .events = POLLIN };
	int r = poll(&p, 1, ms);

	if (r < 0)
		test_fail("poll: %s", strerror(errno));
	return r == 0 ? 0 : p.revents;
}

static struct protocol_status status(void)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_status s;
	struct protocol_line l;
	int fd = client_connect(NULL);

	assert_true(fd >= 0);
	assert_eq(client_request(fd, "STATUS", buf, sizeof(buf), &l), 0);
	assert_eq(protocol_status_parse(l.words, l.words_len, &s), 0);
	close(fd);
	return s;
}

/* The daemon drops a closed watcher when it reads the hang-up: wait for that, bounded. */
static void wait_outdated(int expect)
{
	int n = -1;

	for (int i = 0; i < 1000; i++) {
		n = snapsafe_outdated_watchers();
		if (n == expect)
			return;
		td_sleep_ms(10);
	}
	test_fail("outdated watchers stayed %d, expected %d", n, expect);
}

TEST(test_open_starts_acknowledged)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t g = 0xdeadbeef;

	assert_eq(snapsafe_watcher_read(w, &g), -EAGAIN);
	assert_eq(g, 0xdeadbeef);
	assert_eq(snapsafe_outdated_watchers(), 0);
	assert_eq(poll_fd(w, 0), 0);
	assert_true(snapsafe_watcher_close(w) == NULL);
	assert_true(snapsafe_watcher_close(NULL) == NULL);
}

TEST(test_bad_arguments_are_einval)
{
	struct snapsafe_watcher *w = (void *)0x1;

	assert_eq(snapsafe_watcher_open(0x80, &w), -EINVAL);
	assert_true(w == (void *)0x1);
	assert_eq(snapsafe_watcher_open(0, NULL), -EINVAL);
	assert_eq(snapsafe_watcher_fd(NULL), -EINVAL);
	assert_eq(snapsafe_watcher_ack(NULL, 1), -EINVAL);
}

TEST(test_trigger_honours_min_gen)
{
	uint32_t g1 = trigger(0);
	uint32_t g2 = trigger(0);
	uint32_t g3 = trigger(g2 + 100);
	uint32_t g4 = trigger(5);

	assert_eq(g2, g1 + 1);
	assert_eq(g3, g2 + 100);
	assert_eq(g4, g3 + 1);
	assert_eq(status().generation, g4);
}

TEST(test_nonblocking_read_then_ack)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t g, got = 0;

	g = trigger(0);
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g);
	/* Reading does not acknowledge: the watcher stays outdated. */
	got = 0;
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g);
	assert_eq(snapsafe_outdated_watchers(), 1);
	assert_eq(snapsafe_watcher_ack(w, g), 0);
	assert_eq(snapsafe_watcher_read(w, &got), -EAGAIN);
	assert_eq(snapsafe_outdated_watchers(), 0);
	snapsafe_watcher_close(w);
}

TEST(test_ack_of_stale_generation_is_einval)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t g1 = trigger(0), g2 = trigger(0), got;

	assert_eq(snapsafe_watcher_ack(w, g1), -EINVAL);
	assert_eq(snapsafe_watcher_ack(w, g2 + 1), -EINVAL);
	/* A refused ack changes nothing. */
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g2);
	assert_eq(snapsafe_watcher_ack(w, g2), 0);
	assert_eq(snapsafe_watcher_read(w, &got), -EAGAIN);
	snapsafe_watcher_close(w);
}

TEST(test_fd_polls_readable_exactly_while_outdated)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t g, got;

	assert_eq(poll_fd(w, 0), 0);
	g = trigger(0);
	assert_true(poll_fd(w, 10000) & POLLIN);
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g);
	/* Still outdated after a read: the fd must still poll readable. */
	assert_true(poll_fd(w, 10000) & POLLIN);
	assert_true(poll_fd(w, 0) & POLLIN);
	assert_eq(snapsafe_watcher_ack(w, g), 0);
	assert_eq(poll_fd(w, 0), 0);
	assert_eq(snapsafe_watcher_read(w, &got), -EAGAIN);
	assert_eq(poll_fd(w, 0), 0);
	snapsafe_watcher_close(w);
}

TEST(test_blocking_read_returns_the_next_generation)
{
	struct reader rd = { .w = watcher(0), .r = 1 };
	pthread_t t;
	uint32_t g;

	assert_eq(pthread_create(&t, NULL, read_thread, &rd), 0);
	g = trigger(0);
	pthread_join(t, NULL);
	assert_eq(rd.r, 0);
	assert_eq(rd.gen, g);
	assert_eq(snapsafe_watcher_ack(rd.w, g), 0);
	snapsafe_watcher_close(rd.w);
}

TEST(test_outdated_counts_watchers_at_the_raise)
{
	struct snapsafe_watcher *w[3], *late;

	for (int i = 0; i < 3; i++)
		w[i] = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	assert_eq(snapsafe_outdated_watchers(), 0);
	uint32_t g = trigger(0);
	assert_eq(snapsafe_outdated_watchers(), 3);
	assert_eq(status().outdated, 3);
	assert_eq(snapsafe_watcher_ack(w[0], g), 0);
	assert_eq(snapsafe_outdated_watchers(), 2);
	/* A watcher that goes away stops counting. */
	snapsafe_watcher_close(w[1]);
	wait_outdated(1);
	/* One registered after the raise starts acknowledged. */
	late = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	assert_eq(snapsafe_outdated_watchers(), 1);
	assert_eq(snapsafe_watcher_ack(w[2], g), 0);
	assert_eq(snapsafe_outdated_watchers(), 0);
	snapsafe_watcher_close(late);
	snapsafe_watcher_close(w[0]);
	snapsafe_watcher_close(w[2]);
}

/*
 * A watcher in a child process, driven over a pipe: 'r' = read and ack, 'q' = quit.
 * It answers each command with one byte once done.
 */
struct child {
	pid_t pid;
	int cmd, done;
};

static struct child child_start(void)
{
	int a[2], b[2];
	struct child c;

	assert_eq(pipe2(a, O_CLOEXEC), 0);
	assert_eq(pipe2(b, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
		char x;

		assert_eq(write(b[1], "!", 1), 1);
		while (read(a[0], &x, 1) == 1 && x != 'q') {
			uint32_t g;

			assert_eq(snapsafe_watcher_read(w, &g), 0);
			assert_eq(snapsafe_watcher_ack(w, g), 0);
			assert_eq(write(b[1], "!", 1), 1);
		}
		snapsafe_watcher_close(w);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	c.cmd = a[1];
	c.done = b[0];
	return c;
}

static void child_do(struct child *c, char cmd)
{
	char x;

	assert_eq(write(c->cmd, &cmd, 1), 1);
	if (cmd != 'q')
		assert_eq(read(c->done, &x, 1), 1);
}

static void child_wait_ready(struct child *c)
{
	char x;

	assert_eq(read(c->done, &x, 1), 1);
}

static void child_stop(struct child *c)
{
	int status;

	child_do(c, 'q');
	assert_eq(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(c->cmd);
	close(c->done);
}

struct waiter {
	unsigned timeout_ms;
	int r;
};

static void *wait_thread(void *arg)
{
	struct waiter *wt = arg;

	wt->r = snapsafe_wait_watchers(wt->timeout_ms);
	return NULL;
}

TEST(test_wait_watchers_times_out_then_returns_after_ack)
{
	struct child c = child_start();
	struct waiter wt = { .timeout_ms = 0, .r = 1 };
	pthread_t t;

	child_wait_ready(&c);
	assert_eq(snapsafe_wait_watchers(0), 0);
	trigger(0);
	assert_eq(snapsafe_wait_watchers(50), -ETIMEDOUT);
	/* Waiting forever returns once the other process acknowledges. */
	assert_eq(pthread_create(&t, NULL, wait_thread, &wt), 0);
	child_do(&c, 'r');
	pthread_join(t, NULL);
	assert_eq(wt.r, 0);
	assert_eq(snapsafe_outdated_watchers(), 0);
	child_stop(&c);
}

TEST(test_wait_watchers_is_edeadlk_for_own_outdated_watcher)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t g = trigger(0);

	/* 20 s rather than forever, so that the bug fails the test instead of hanging it. */
	assert_eq(snapsafe_wait_watchers(20000), -EDEADLK);
	assert_eq(snapsafe_watcher_ack(w, g), 0);
	assert_eq(snapsafe_wait_watchers(20000), 0);
	snapsafe_watcher_close(w);
}

TEST(test_daemon_refuses_to_wait_for_same_pid_watcher)
{
	/*
	 * The daemon's own check, without the library's local one in front of it: EDEADLK, or
	 * EINTR from a daemon that predates it, both -EDEADLK for the caller.
	 */
	uint64_t v;
	int fw = client_connect(NULL), fc = client_connect(NULL);

	assert_true(fw >= 0 && fc >= 0);
	assert_eq(client_request_value(fw, "WATCH", &v), 0);
	trigger(0);
	assert_eq(control_wait(fc, 20000, NULL), -EDEADLK);
	close(fw);
	close(fc);
}

TEST(test_wait_watchers_is_edeadlk_when_own_watcher_becomes_outdated)
{
	/* The child first, so that it does not inherit our watcher's socket. */
	struct child c = child_start();
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	struct waiter wt = { .timeout_ms = 20000, .r = 1 };
	pthread_t t;
	uint32_t g;

	child_wait_ready(&c);
	g = trigger(0);
	assert_eq(snapsafe_watcher_ack(w, g), 0);
	/* Only the child is outdated: the wait waits, until our own watcher falls behind. */
	assert_eq(pthread_create(&t, NULL, wait_thread, &wt), 0);
	trigger(0);
	pthread_join(t, NULL);
	assert_eq(wt.r, -EDEADLK);
	child_stop(&c);
	snapsafe_watcher_close(w);
}

TEST(test_quiesce_and_resume)
{
	struct snapsafe_watcher *w = watcher(SNAPSAFE_WATCHER_NONBLOCK);
	uint32_t before = status().generation, got;
	int64_t g;

	assert_eq(snapsafe_quiesce(), 0);
	assert_true(status().quiesced);
	assert_eq(status().generation, before);
	assert_eq(snapsafe_watcher_read(w, &got), -EAGAIN);
	g = snapsafe_resume();
	assert_eq(g, before + 1);
	assert_true(!status().quiesced);
	/* Resume is a new generation: watchers see it. */
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g);
	assert_eq(snapsafe_watcher_ack(w, got), 0);
	snapsafe_watcher_close(w);
}

int main(void)
{
	td_init(&daemon_, NULL);
	td_start_argv(&daemon_, NULL);
	RUN(test_open_starts_acknowledged);
	RUN(test_bad_arguments_are_einval);
	RUN(test_trigger_honours_min_gen);
	RUN(test_nonblocking_read_then_ack);
	RUN(test_ack_of_stale_generation_is_einval);
	RUN(test_fd_polls_readable_exactly_while_outdated);
	RUN(test_blocking_read_returns_the_next_generation);
	RUN(test_outdated_counts_watchers_at_the_raise);
	RUN(test_wait_watchers_times_out_then_returns_after_ack);
	RUN(test_wait_watchers_is_edeadlk_for_own_outdated_watcher);
	RUN(test_daemon_refuses_to_wait_for_same_pid_watcher);
	RUN(test_wait_watchers_is_edeadlk_when_own_watcher_becomes_outdated);
	RUN(test_quiesce_and_resume);
	td_cleanup(&daemon_);
	return 0;
}
