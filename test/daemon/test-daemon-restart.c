/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kill -9 and restart on the same runtime directory never lower the generation: not
 * right after a raise, not while another process raises as fast as it can, not when the
 * state file is lost or damaged (the page still holds the value). Clients recover, through
 * the exported API of the shared library: a watcher gets a clear error once the daemon is
 * gone and a new one works after the restart; snapsafe_generation() keeps answering from
 * the page all along, and a futex waiter on the page wakes for a raise by the new daemon.
 * Usage: test-daemon-restart SNAPSAFED
 */
#include <poll.h>
#include <pthread.h>

#include <snapsafe/snapsafe.h>

#include "daemon-util.h"

static struct td t;
static const struct snapsafe_page *page;	/* a client's mapping, kept across restarts */

static uint32_t trigger(void)
{
	int64_t g = snapsafe_trigger(0);

	if (g <= 0)
		test_fail("snapsafe_trigger: %s", strerror((int)-g));
	return (uint32_t)g;
}

/* Restart and check that nothing any client saw was lost. */
static void restart_expect_at_least(uint32_t seen)
{
	td_start_argv(&t, NULL);
	if (td_status(&t).generation < seen)
		test_fail("generation %u after the restart, %u seen before", td_status(&t).generation,
			  seen);
	assert_true(page->generation >= seen);
	assert_true(snapsafe_generation() >= seen);
	assert_true(page->flags & SNAPSAFE_PAGE_RUNNING);
	assert_eq(page->daemon_pid, t.pid);
}

TEST(test_kill9_right_after_a_raise_never_lowers_the_generation)
{
	for (int round = 1; round <= 5; round++) {
		uint32_t last = 0;

		for (int i = 0; i < round; i++)
			last = trigger();
		td_stop_signal(&t, SIGKILL);
		/* Down: the page still answers, with what was published. */
		assert_eq(snapsafe_generation(), last);
		restart_expect_at_least(last);
		assert_eq(trigger(), td_status(&t).generation);
	}
}

/* Another process raises in a loop and reports every generation it was answered. */
TEST(test_kill9_during_a_stream_of_raises_never_lowers_the_generation)
{
	for (int round = 0; round < 5; round++) {
		uint32_t seen = 0, g;
		int p[2], status;
		pid_t pid;

		assert_eq(pipe2(p, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int64_t r;

			close(p[0]);
			while ((r = snapsafe_trigger(0)) > 0) {
				g = (uint32_t)r;
				if (write(p[1], &g, sizeof(g)) != sizeof(g))
					_exit(1);
			}
			_exit(0);
		}
		close(p[1]);
		/* Let it get going, then kill the daemon between two of its raises. */
		while (read(p[0], &g, sizeof(g)) == sizeof(g)) {
			seen = g;
			if (g % 97 == (uint32_t)round * 13 % 97 && t.pid > 0)
				td_stop_signal(&t, SIGKILL);
		}
		close(p[0]);
		assert_eq(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_true(t.pid <= 0);
		assert_true(seen > 0);
		restart_expect_at_least(seen);
	}
}

TEST(test_lost_or_damaged_state_file_falls_back_to_the_page)
{
	char state[400], tmp[420];
	uint32_t last;

	snprintf(state, sizeof(state), "%s/state", t.rt);
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", t.rt);

	last = trigger();
	td_stop_signal(&t, SIGKILL);
	assert_eq(unlink(state), 0);
	restart_expect_at_least(last);

	last = trigger();
	td_stop_signal(&t, SIGKILL);
	assert_eq(unlink(state), 0);
	td_append(state, "generation=1\nepoch_counter=zz\n\xff\xfe garbage\nkmsg_seq=-4\n");
	td_append(tmp, "generation=");	/* a half-written replacement */
	restart_expect_at_least(last);
	assert_eq(trigger(), last + 1);
}

TEST(test_clean_stop_tells_page_readers_no_daemon_runs)
{
	uint32_t gen = td_status(&t).generation;

	assert_eq(td_stop_signal(&t, SIGTERM), 0);
	assert_true(!(page->flags & SNAPSAFE_PAGE_RUNNING));
	assert_eq(page->live_notifiers, 0);
	assert_eq(page->daemon_pid, 0);
	assert_eq(snapsafe_generation(), gen);
	/* A clean restart raises nothing. */
	restart_expect_at_least(gen);
	assert_eq(td_status(&t).generation, gen);
}

TEST(test_watchers_get_a_clear_error_and_can_reopen_after_a_restart)
{
	struct snapsafe_watcher *w = NULL, *again = NULL;
	struct pollfd p;
	uint32_t got, g;
	int r;

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w), 0);
	g = trigger();
	assert_eq(snapsafe_watcher_read(w, &got), 0);
	assert_eq(got, g);
	td_stop_signal(&t, SIGKILL);

	p = (struct pollfd){ .fd = snapsafe_watcher_fd(w), .events = POLLIN };
	assert_eq(poll(&p, 1, TD_WAIT_MS), 1);
	assert_true(p.revents & (POLLIN | POLLHUP));
	r = snapsafe_watcher_ack(w, g);
	if (r != -ECONNRESET && r != -EPIPE)
		test_fail("ack after the daemon died: %d, expected -ECONNRESET or -EPIPE", r);
	r = snapsafe_watcher_read(w, &got);
	if (r != -ECONNRESET && r != -EPIPE)
		test_fail("read after the daemon died: %d, expected -ECONNRESET or -EPIPE", r);
	assert_eq(snapsafe_watcher_open(0, &again), -ECONNREFUSED);
	assert_true(snapsafe_watcher_close(w) == NULL);

	restart_expect_at_least(g);
	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &again), 0);
	assert_eq(snapsafe_watcher_read(again, &got), -EAGAIN);
	g = trigger();
	assert_eq(snapsafe_watcher_read(again, &got), 0);
	assert_eq(got, g);
	assert_eq(snapsafe_watcher_ack(again, g), 0);
	assert_eq(snapsafe_outdated_watchers(), 0);
	snapsafe_watcher_close(again);
}

struct waiter {
	uint32_t seen;
	int64_t r;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->r = snapsafe_generation_wait(w->seen, 2 * TD_WAIT_MS);
	return NULL;
}

TEST(test_page_waiter_wakes_for_a_raise_by_the_restarted_daemon)
{
	struct waiter w = { .seen = snapsafe_generation(), .r = 1 };
	pthread_t th;

	assert_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
	td_stop_signal(&t, SIGKILL);
	td_start_argv(&t, NULL);
	/* The restart itself raised nothing, so the waiter still sleeps; this wakes it. */
	assert_eq(td_u64(&t, "TRIGGER"), w.seen + 1);
	pthread_join(th, NULL);
	assert_eq(w.r, w.seen + 1);
}

/* One daemon per runtime directory: a second one refuses to start and disturbs nothing. */
TEST(test_second_daemon_on_the_same_directory_refuses_and_harms_nothing)
{
	uint32_t gen = td_status(&t).generation;
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;
	unsigned owned = td_log_count(&t, "Another snapsafed owns");
	int status;
	pid_t pid = td_exec(&t, NULL);

	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (td_now_ms() > deadline) {
			kill(pid, SIGKILL);
			test_fail("a second snapsafed on %s kept running", t.rt);
		}
		td_sleep_ms(10);
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	assert_eq(td_log_count(&t, "Another snapsafed owns"), owned + 1);
	/* The first one still owns the socket, the page and the generation. */
	assert_true(td_alive(&t));
	assert_eq(page->daemon_pid, t.pid);
	assert_true(page->flags & SNAPSAFE_PAGE_RUNNING);
	assert_eq(td_u64(&t, "TRIGGER"), gen + 1);
	assert_eq(snapsafe_generation(), gen + 1);
}

int main(int argc, char **argv)
{
	td_init(&t, argc > 1 ? argv[1] : NULL);
	td_start_argv(&t, NULL);
	page = td_map_page(&t);
	RUN(test_kill9_right_after_a_raise_never_lowers_the_generation);
	RUN(test_kill9_during_a_stream_of_raises_never_lowers_the_generation);
	RUN(test_lost_or_damaged_state_file_falls_back_to_the_page);
	RUN(test_clean_stop_tells_page_readers_no_daemon_runs);
	RUN(test_watchers_get_a_clear_error_and_can_reopen_after_a_restart);
	RUN(test_page_waiter_wakes_for_a_raise_by_the_restarted_daemon);
	RUN(test_second_daemon_on_the_same_directory_refuses_and_harms_nothing);
	return td_finish(&t);
}
