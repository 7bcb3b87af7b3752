/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control calls against a fake daemon that gives the replies the real one cannot be made
 * to give on demand: QUIESCE at generation 0 is a success; a WAIT refused because the caller
 * holds an outdated watcher is -EDEADLK, whether the daemon says EDEADLK or, like daemons
 * before it, EINTR (a caller that retries -EINTR would spin for ever), and so is the library's
 * own check; a WAIT timeout's list of outdated pids is read, cut lists and all; replies that
 * are not valid stay errors.
 */
#include <errno.h>
#include <string.h>

#include <snapsafe/snapsafe.h>

#include "client.h"
#include "control.h"
#include "fake-daemon.h"
#include "test.h"

static const char *wait_reply = "OK 0\n";
static const char *quiesce_reply = "OK 0\n";

static const char *answer(const char *req)
{
	if (strcmp(req, "HELLO 1") == 0)
		return "OK 1\n";
	/* A watcher that is outdated from the start: the raise follows the reply. */
	if (strcmp(req, "WATCH") == 0)
		return "OK 5\nGEN 6\n";
	if (strncmp(req, "WAIT ", 5) == 0)
		return wait_reply;
	if (strcmp(req, "QUIESCE") == 0)
		return quiesce_reply;
	if (strcmp(req, "RESUME") == 0 || strncmp(req, "TRIGGER", 7) == 0)
		return "OK 0\n";
	return "ERR EINVAL unknown request\n";
}

TEST(test_quiesce_at_generation_0_succeeds)
{
	quiesce_reply = "OK 0\n";
	assert_eq(snapsafe_quiesce(), 0);
	quiesce_reply = "OK 7\n";
	assert_eq(snapsafe_quiesce(), 0);
	quiesce_reply = "OK 4294967296\n";
	assert_eq(snapsafe_quiesce(), -EPROTO);
	quiesce_reply = "OK\n";
	assert_eq(snapsafe_quiesce(), -EPROTO);
	quiesce_reply = "ERR EACCES not privileged\n";
	assert_eq(snapsafe_quiesce(), -EACCES);
	/* A raise still has to be above 0. */
	assert_eq(snapsafe_resume(), -EPROTO);
	assert_eq(snapsafe_trigger(0), -EPROTO);
}

TEST(test_wait_refused_for_own_watcher_is_edeadlk)
{
	wait_reply = "ERR EDEADLK caller is an outdated watcher\n";
	assert_eq(snapsafe_wait_watchers(1000), -EDEADLK);
	/* What daemons said before EDEADLK: a WAIT reply never means a signal. */
	wait_reply = "ERR EINTR caller is an outdated watcher\n";
	assert_eq(snapsafe_wait_watchers(1000), -EDEADLK);
	wait_reply = "ERR ETIMEDOUT outdated watcher pids: 12\n";
	assert_eq(snapsafe_wait_watchers(1000), -ETIMEDOUT);
	wait_reply = "OK 0\n";
	assert_eq(snapsafe_wait_watchers(1000), 0);
}

TEST(test_own_outdated_watcher_is_edeadlk_without_asking)
{
	struct snapsafe_watcher *w = NULL;

	/* WAIT would succeed: only the library's own check can say EDEADLK here. */
	wait_reply = "OK 0\n";
	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w), 0);
	assert_eq(snapsafe_wait_watchers(1000), -EDEADLK);
	snapsafe_watcher_close(w);
	assert_eq(snapsafe_wait_watchers(1000), 0);
}

static int wait_with_pids(const char *reply, struct control_pids *pids)
{
	int fd = client_connect(NULL), r;

	assert_true(fd >= 0);
	wait_reply = reply;
	r = control_wait(fd, 100, pids);
	close(fd);
	return r;
}

TEST(test_timeout_lists_the_outdated_pids)
{
	struct control_pids p;

	assert_eq(wait_with_pids("ERR ETIMEDOUT outdated watcher pids: 1234 5678\n", &p),
		  -ETIMEDOUT);
	assert_true(p.known && !p.truncated);
	assert_eq(p.n, 2);
	assert_eq(p.pid[0], 1234);
	assert_eq(p.pid[1], 5678);
	assert_eq(wait_with_pids("ERR ETIMEDOUT outdated watcher pids: 1 ...\n", &p), -ETIMEDOUT);
	assert_true(p.known && p.truncated);
	assert_eq(p.n, 1);
	assert_eq(p.pid[0], 1);
	/* A daemon that names no pids: nothing is made up. */
	assert_eq(wait_with_pids("ERR ETIMEDOUT timed out\n", &p), -ETIMEDOUT);
	assert_true(!p.known && p.n == 0);
	assert_eq(wait_with_pids("OK 0\n", &p), 0);
	assert_true(!p.known);
	assert_eq(wait_with_pids("ERR EINTR outdated watcher pids: 1\n", &p), -EDEADLK);
	assert_true(!p.known);
}

static void parse(const char *text, struct control_pids *p)
{
	control_parse_pids(text, strlen(text), p);
}

TEST(test_pid_lists_are_parsed_strictly)
{
	static const char *const bad[] = {
		"outdated watcher pids: ", "outdated watcher pids:  1", "outdated watcher pids: 1 ",
		"outdated watcher pids: 1x", "outdated watcher pids: -1",
		"outdated watcher pids: 4294967296", "outdated watcher pids: 1 ... 2",
		"outdated watcher pids:1", "watcher pids: 1", "",
	};
	struct control_pids p;
	char many[4096] = "outdated watcher pids:";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(bad[i], &p);
		if (p.known)
			test_fail("'%s' read as a pid list", bad[i]);
	}
	parse("outdated watcher pids: 4294967295", &p);
	assert_true(p.known && p.n == 1 && p.pid[0] == 4294967295u);
	/* More than fit: the first ones, and "cut". */
	for (int i = 0; i < CONTROL_PIDS_MAX + 5; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), " %d", i + 1);
	parse(many, &p);
	assert_true(p.known && p.truncated);
	assert_eq(p.n, CONTROL_PIDS_MAX);
	assert_eq(p.pid[CONTROL_PIDS_MAX - 1], CONTROL_PIDS_MAX);
}

int main(void)
{
	struct fake_daemon f;

	fake_daemon_start(&f, answer);
	setenv("SNAPSAFE_RUNTIME_DIR", f.dir, 1);
	RUN(test_quiesce_at_generation_0_succeeds);
	RUN(test_wait_refused_for_own_watcher_is_edeadlk);
	RUN(test_own_outdated_watcher_is_edeadlk_without_asking);
	RUN(test_timeout_lists_the_outdated_pids);
	RUN(test_pid_lists_are_parsed_strictly);
	fake_daemon_stop(&f);
	return 0;
}
