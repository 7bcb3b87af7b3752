/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The watcher locks across fork(): while a thread uses a watcher (its lock) and opens,
 * closes and checks watchers (the per-process list's lock) over and over, the main thread
 * forks many times, and each child must take both locks within a deadline. A child that
 * inherits a lock held by a thread that does not exist in it blocks for ever. Against
 * fake-daemon.h, which answers every request at once with the same lines, so parent and
 * child may even share the inherited watcher's socket.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <snapsafe/snapsafe.h>

#include "deadline.h"
#include "fake-daemon.h"
#include "test.h"

enum {
	FORKS = 200,
	CHILD_MS = 10000,	/* a healthy child takes milliseconds */
};

static const char *answer(const char *req)
{
	if (strcmp(req, "HELLO 1") == 0)
		return "OK 1\n";
	if (strcmp(req, "WATCH") == 0 || strncmp(req, "ACK ", 4) == 0)
		return "OK 5\n";
	if (strncmp(req, "WAIT ", 5) == 0)
		return "OK 0\n";
	return "ERR EINVAL unknown request\n";
}

struct user {
	struct snapsafe_watcher *shared;
	bool started, stop;
};

static void use_watchers(struct snapsafe_watcher *shared)
{
	struct snapsafe_watcher *w = NULL;
	int r;

	/* The shared watcher's own lock, held across a round trip. */
	r = snapsafe_watcher_ack(shared, 5);
	if (r != 0)
		test_fail("snapsafe_watcher_ack: %s", strerror(-r));
	/* The list's lock: open, look for outdated watchers, close. */
	r = snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w);
	if (r != 0)
		test_fail("snapsafe_watcher_open: %s", strerror(-r));
	r = snapsafe_wait_watchers(1000);
	if (r != 0)
		test_fail("snapsafe_wait_watchers: %s", strerror(-r));
	snapsafe_watcher_close(w);
}

/* In a child: the inherited watcher (its lock), the list (its lock), then close it. */
static void child_use(void *shared)
{
	use_watchers(shared);
	snapsafe_watcher_close(shared);
}

static void *user_run(void *arg)
{
	struct user *u = arg;

	use_watchers(u->shared);
	__atomic_store_n(&u->started, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE))
		use_watchers(u->shared);
	return NULL;
}

TEST(test_watchers_in_a_child_while_a_thread_uses_them)
{
	struct user u = { 0 };
	pthread_t t;

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &u.shared), 0);
	assert_eq(pthread_create(&t, NULL, user_run, &u), 0);
	wait_until(__atomic_load_n(&u.started, __ATOMIC_ACQUIRE), CHILD_MS,
		   "the thread's first use of the watchers");
	for (int i = 0; i < FORKS; i++)
		child_expect_exit0(child_start(child_use, u.shared), CHILD_MS,
				   "using the watchers");
	__atomic_store_n(&u.stop, true, __ATOMIC_RELEASE);
	assert_eq(pthread_join(t, NULL), 0);
	snapsafe_watcher_close(u.shared);
}

int main(void)
{
	struct fake_daemon f;

	fake_daemon_start(&f, answer);
	setenv("SNAPSAFE_RUNTIME_DIR", f.dir, 1);
	RUN(test_watchers_in_a_child_while_a_thread_uses_them);
	fake_daemon_stop(&f);
	return 0;
}
