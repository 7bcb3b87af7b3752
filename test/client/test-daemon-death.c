/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A daemon killed with SIGKILL under open watchers, a blocked read and a pending wait: every
 * call returns a clean negative errno (no hang, no SIGPIPE, no crash), the watcher's fd
 * reports the hang-up, and after a restart on the same runtime directory the generation has
 * not gone down and new watchers work. SIGPIPE stays at its default here on purpose.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <snapsafe/snapsafe.h>

#include "daemon-util.h"
#include "reader-thread.h"

static struct td daemon_;

static void *wait_thread(void *arg)
{
	*(int *)arg = snapsafe_wait_watchers(0);
	return NULL;
}

/* Is the daemon gone, as the library should say it? */
static bool gone(int r)
{
	return r == -ECONNRESET || r == -EPIPE;
}

int main(void)
{
	struct snapsafe_watcher *nb = NULL, *bl = NULL, *again = NULL;
	struct reader rd = { .r = 1 };
	struct pollfd p;
	pthread_t tr, tw;
	int child_pipe[2], wait_r = 1, status;
	uint32_t g, last, got;
	pid_t child;
	char x;

	td_init(&daemon_, NULL);
	td_start_argv(&daemon_, NULL);
	/* Restore SIGPIPE: the library must not rely on the caller ignoring it. */
	signal(SIGPIPE, SIG_DFL);

	/* A watcher in another process that never acks, so that WAIT 0 blocks in the daemon. */
	assert_eq(pipe2(child_pipe, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct snapsafe_watcher *w;

		assert_eq(snapsafe_watcher_open(0, &w), 0);
		assert_eq(write(child_pipe[1], "!", 1), 1);
		pause();
		_exit(0);
	}
	close(child_pipe[1]);
	assert_eq(read(child_pipe[0], &x, 1), 1);
	close(child_pipe[0]);

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &nb), 0);
	assert_eq(snapsafe_watcher_open(0, &bl), 0);
	g = (uint32_t)snapsafe_trigger(0);
	assert_true(g > 0);
	assert_eq(snapsafe_watcher_read(bl, &got), 0);
	assert_eq(snapsafe_watcher_ack(bl, got), 0);
	assert_eq(snapsafe_watcher_read(nb, &got), 0);
	assert_eq(snapsafe_watcher_ack(nb, got), 0);
	last = got;

	/* Only the child is outdated now: the wait blocks; the read blocks too. */
	rd.w = bl;
	assert_eq(pthread_create(&tr, NULL, read_thread, &rd), 0);
	assert_eq(pthread_create(&tw, NULL, wait_thread, &wait_r), 0);
	td_sleep_ms(100);	/* let both reach the daemon; the result holds either way */
	td_stop_signal(&daemon_, SIGKILL);

	pthread_join(tr, NULL);
	pthread_join(tw, NULL);
	if (!gone(rd.r))
		test_fail("blocked read after the daemon died: %d", rd.r);
	/* The wait either was at the daemon (lost) or came after it (refused). */
	if (!gone(wait_r) && wait_r != -ECONNREFUSED)
		test_fail("pending wait after the daemon died: %d", wait_r);

	/* The fd says so, and every call on the dead watcher fails cleanly. */
	p = (struct pollfd){ .fd = snapsafe_watcher_fd(nb), .events = POLLIN };
	assert_eq(poll(&p, 1, 10000), 1);
	assert_true(p.revents & (POLLIN | POLLHUP));
	if (!gone(snapsafe_watcher_read(nb, &got)))
		test_fail("read on a dead watcher did not report the lost daemon");
	if (!gone(snapsafe_watcher_ack(nb, last)))
		test_fail("ack on a dead watcher did not report the lost daemon");
	/* New calls: the socket file is still there, nobody listens on it. */
	assert_eq(snapsafe_trigger(0), -ECONNREFUSED);
	assert_eq(snapsafe_outdated_watchers(), -ECONNREFUSED);
	assert_eq(snapsafe_watcher_open(0, &again), -ECONNREFUSED);
	assert_true(again == NULL);
	snapsafe_watcher_close(nb);
	snapsafe_watcher_close(bl);

	/* A restart continues from the persisted generation, never below; clients recover. */
	td_start_argv(&daemon_, NULL);
	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &again), 0);
	g = (uint32_t)snapsafe_trigger(0);
	assert_true(g > last);
	assert_eq(snapsafe_watcher_read(again, &got), 0);
	assert_eq(got, g);
	assert_eq(snapsafe_watcher_ack(again, got), 0);
	snapsafe_watcher_close(again);

	kill(child, SIGKILL);
	assert_eq(waitpid(child, &status, 0), child);
	td_cleanup(&daemon_);
	return 0;
}
