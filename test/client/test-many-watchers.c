/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * 1000 watchers open at once through the shared library (the exported API only): one
 * trigger makes every one of their fds readable, each reads the new generation, and after
 * every ack none is outdated.
 */
#include <errno.h>
#include <poll.h>
#include <sys/resource.h>

#include <snapsafe/snapsafe.h>

#include "daemon-util.h"

enum { N_WATCHERS = 1000 };

static struct td daemon_;

int main(void)
{
	static struct snapsafe_watcher *w[N_WATCHERS];
	static struct pollfd p[N_WATCHERS];
	struct rlimit rl;
	int64_t g;
	int seen = 0;

	/* The daemon inherits this limit: both ends need a descriptor per watcher. */
	assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < N_WATCHERS + 64)
		test_fail("RLIMIT_NOFILE hard limit %llu is below %d", (unsigned long long)rl.rlim_max,
			  N_WATCHERS + 64);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < N_WATCHERS + 64) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? N_WATCHERS + 64 : rl.rlim_max;
		assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	td_init(&daemon_, NULL);
	td_start_argv(&daemon_, NULL);

	for (int i = 0; i < N_WATCHERS; i++) {
		int r = snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w[i]);

		if (r < 0)
			test_fail("watcher %d: %s", i, strerror(-r));
		p[i] = (struct pollfd){ .fd = snapsafe_watcher_fd(w[i]), .events = POLLIN };
	}
	assert_eq(snapsafe_outdated_watchers(), 0);
	g = snapsafe_trigger(0);
	assert_true(g > 0);
	assert_eq(snapsafe_outdated_watchers(), N_WATCHERS);

	/* Every fd turns readable; handled ones drop out of the set (fd -1). */
	while (seen < N_WATCHERS) {
		int r = poll(p, N_WATCHERS, 30000);

		if (r <= 0)
			test_fail("poll: %d (%s), %d of %d watchers notified", r, strerror(errno), seen,
				  N_WATCHERS);
		for (int i = 0; i < N_WATCHERS; i++) {
			uint32_t got = 0;

			if (p[i].fd < 0 || !(p[i].revents & POLLIN))
				continue;
			assert_eq(snapsafe_watcher_read(w[i], &got), 0);
			assert_eq(got, g);
			assert_eq(snapsafe_watcher_ack(w[i], got), 0);
			p[i].fd = -1;
			seen++;
		}
	}
	assert_eq(snapsafe_outdated_watchers(), 0);
	assert_eq(snapsafe_wait_watchers(0), 0);
	for (int i = 0; i < N_WATCHERS; i++)
		assert_true(snapsafe_watcher_close(w[i]) == NULL);
	td_cleanup(&daemon_);
	return 0;
}
