/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl against the real snapsafed: every subcommand, its human output and its --json
 * output (validated and read back here), --runtime-dir before and after the subcommand, and
 * the documented exit codes: 2 usage, 3 no daemon, 4 refused (run as uid 65534 through
 * setpriv), 5 wait-watchers timeout, 6 daemon lost under `watch`. Replies the real daemon
 * cannot be made to give on demand (the outdated pids of a timeout, a refused wait, an older
 * daemon's EINTR, generation 0) come from test/client/fake-daemon.h.
 * Usage: test-snapsafectl PATH-TO-SNAPSAFECTL
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <snapsafe/snapsafe.h>

#include "json.h"
#include "daemon-util.h"
#include "fake-daemon.h"

static const char *ctl_path;
static struct td daemon_;

struct run {
	int code;		/* exit code, or 128 + signal */
	char out[8192];
	char err[8192];
};

static void read_all(int fd, char *buf, size_t size)
{
	size_t have = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, size - 1 - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			test_fail("read: %s", strerror(errno));
		}
		have += (size_t)n;
		if (have == size - 1)
			break;
	}
	buf[have] = '\0';
	close(fd);
}

static int wait_code(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Start @argv (NULL-terminated) with stdout and stderr on pipes. */
static pid_t spawn(char **argv, int *ret_out, int *ret_err)
{
	int out[2], err[2];
	pid_t pid;

	assert_eq(pipe2(out, O_CLOEXEC), 0);
	assert_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	*ret_out = out[0];
	*ret_err = err[0];
	return pid;
}

/* Run a command line given as words, NULL-terminated; @prefix words go first (setpriv). */
static struct run run_argv(char **prefix, const char *first, va_list ap)
{
	static struct run r;
	char *argv[32];
	int n = 0, fo, fe;
	pid_t pid;

	for (; prefix && *prefix; prefix++)
		argv[n++] = *prefix;
	argv[n++] = (char *)ctl_path;
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(n < 31);
		argv[n++] = (char *)a;
	}
	argv[n] = NULL;
	pid = spawn(argv, &fo, &fe);
	read_all(fo, r.out, sizeof(r.out));
	read_all(fe, r.err, sizeof(r.err));
	r.code = wait_code(pid);
	return r;
}

static struct run ctl(const char *first, ...)
{
	struct run r;
	va_list ap;

	va_start(ap, first);
	r = run_argv(NULL, first, ap);
	va_end(ap);
	return r;
}

static struct run ctl_as_nobody(const char *first, ...)
{
	static char *setpriv[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
				   "--clear-groups", NULL };
	struct run r;
	va_list ap;

	va_start(ap, first);
	r = run_argv(setpriv, first, ap);
	va_end(ap);
	return r;
}

#define assert_exit(r, expect) do {							\
		if ((r).code != (expect))						\
			test_fail("exit %d, expected %d; stdout '%s' stderr '%s'",	\
				  (r).code, (expect), (r).out, (r).err);		\
	} while (0)

#define assert_contains(s, needle) do {							\
		if (!strstr((s), (needle)))						\
			test_fail("'%s' does not contain '%s'", (s), (needle));	\
	} while (0)

/* A number (or true/false/string) from a JSON document, after validating the document. */
static const char *json_text(const char *doc, const char *path)
{
	static char buf[256];

	if (!json_valid(doc))
		test_fail("not valid JSON: '%s'", doc);
	if (!json_get(doc, path, buf, sizeof(buf)))
		test_fail("no '%s' in '%s'", path, doc);
	return buf;
}

static unsigned long long json_num(const char *doc, const char *path)
{
	const char *t = json_text(doc, path);
	char *end;
	unsigned long long v = strtoull(t, &end, 10);

	if (*t < '0' || *t > '9' || *end)
		test_fail("'%s' in '%s' is not a number", path, doc);
	return v;
}

static unsigned long long number_line(const struct run *r)
{
	char *end;
	unsigned long long v = strtoull(r->out, &end, 10);

	if (r->out[0] < '0' || r->out[0] > '9' || strcmp(end, "\n") != 0)
		test_fail("output '%s' is not one number on a line", r->out);
	return v;
}

static unsigned long long status_watchers(void)
{
	struct run r = ctl("status", "--json", NULL);

	assert_exit(r, 0);
	return json_num(r.out, "watchers");
}

static void wait_watchers_count(unsigned long long expect)
{
	for (int i = 0; i < 1000; i++) {
		if (status_watchers() == expect)
			return;
		td_sleep_ms(10);
	}
	test_fail("watchers never became %llu", expect);
}

TEST(test_usage_errors_exit_2)
{
	struct run r;

	assert_exit(ctl(NULL), 2);
	r = ctl("frobnicate", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "unknown subcommand 'frobnicate'");
	assert_exit(ctl("trigger", "--min-gen", "abc", NULL), 2);
	assert_exit(ctl("trigger", "--min-gen", "4294967296", NULL), 2);
	assert_exit(ctl("trigger", "--min-gen", NULL), 2);
	assert_exit(ctl("status", "extra", NULL), 2);
	assert_exit(ctl("status", "--bogus", NULL), 2);
	assert_exit(ctl("--runtime-dir", NULL), 2);
	assert_exit(ctl("status", "--runtime-dir", NULL), 2);
	r = ctl("--help", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "Usage: snapsafectl");
	assert_contains(r.out, "wait-watchers");
	r = ctl("trigger", "--help", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "--min-gen");
	r = ctl("--version", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "snapsafectl ");
}

TEST(test_no_daemon_exits_3_with_a_clear_message)
{
	static const char *const cmds[] = { "status", "trigger", "watch", "outdated",
					    "wait-watchers", "quiesce", "resume" };
	char expect[512];

	snprintf(expect, sizeof(expect), "cannot reach snapsafed at %s/control.sock: ", daemon_.rt);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r = ctl(cmds[i], NULL);

		assert_exit(r, 3);
		assert_contains(r.err, expect);
		assert_contains(r.err, "(is the daemon running?)");
		assert_eq(r.out[0], '\0');
	}
}

TEST(test_trigger_and_status)
{
	struct run r;
	unsigned long long g;

	r = ctl("trigger", "--json", NULL);
	assert_exit(r, 0);
	g = json_num(r.out, "generation");
	assert_true(g > 0);
	r = ctl("trigger", "--min-gen", "0", NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), g + 1);
	r = ctl("trigger", "--min-gen", "1000", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), g + 1 > 999 ? g + 2 : 1000);
	g = json_num(r.out, "generation");

	r = ctl("status", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "version"), 1);
	assert_eq(json_num(r.out, "generation"), g);
	assert_eq(json_num(r.out, "watchers"), 0);
	assert_eq(json_num(r.out, "outdated"), 0);
	assert_true(json_num(r.out, "last_raise_ns") > 0);
	assert_contains(json_text(r.out, "quiesced"), "false");
	assert_contains(json_text(r.out, "epoch_notifier"), "control");
	assert_contains(json_text(r.out, "notifiers.control"), "true");
	assert_eq(json_num(r.out, "epoch") >> 24, 1);	/* SNAPSAFE_NOTIFIER_CONTROL */
	assert_eq(strncmp(json_text(r.out, "epoch_hex"), "0x01", 4), 0);

	r = ctl("status", NULL);
	assert_exit(r, 0);
	char line[64];
	snprintf(line, sizeof(line), "generation:  %llu\n", g);
	assert_contains(r.out, line);
	assert_contains(r.out, "(control)");
	assert_contains(r.out, "quiesced:    no\n");
	assert_contains(r.out, "  control      live\n");
}

TEST(test_runtime_dir_before_and_after_the_subcommand)
{
	struct run r;

	/* A wrong environment: only the option can lead to the daemon. */
	setenv("SNAPSAFE_RUNTIME_DIR", "/nonexistent/snapsafe", 1);
	assert_exit(ctl("outdated", NULL), 3);
	r = ctl("--runtime-dir", daemon_.rt, "outdated", NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), 0);
	r = ctl("outdated", "--runtime-dir", daemon_.rt, NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), 0);
	char opt[400];
	snprintf(opt, sizeof(opt), "--runtime-dir=%s", daemon_.rt);
	r = ctl("outdated", "--json", opt, NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "outdated"), 0);
	r = ctl(opt, "status", "--json", NULL);
	assert_exit(r, 0);
	assert_true(json_num(r.out, "generation") > 0);
	setenv("SNAPSAFE_RUNTIME_DIR", daemon_.rt, 1);
}

TEST(test_outdated_and_wait_watchers)
{
	struct snapsafe_watcher *w = NULL;
	struct run r;
	int64_t g;

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w), 0);
	g = snapsafe_trigger(0);
	assert_true(g > 0);
	r = ctl("outdated", NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), 1);
	r = ctl("outdated", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "outdated"), 1);

	/* This test's watcher is outdated; snapsafectl is another process, so it waits. */
	r = ctl("wait-watchers", "--timeout", "100", NULL);
	assert_exit(r, 5);
	assert_contains(r.err, "timed out after 100 ms, 1 watcher(s) still outdated");
	r = ctl("wait-watchers", "--timeout", "50", "--json", NULL);
	assert_exit(r, 5);
	assert_contains(json_text(r.out, "timed_out"), "true");
	assert_eq(json_num(r.out, "outdated"), 1);

	assert_eq(snapsafe_watcher_ack(w, (uint32_t)g), 0);
	r = ctl("wait-watchers", NULL);
	assert_exit(r, 0);
	assert_eq(r.out[0], '\0');
	r = ctl("wait-watchers", "--timeout", "0", "--json", NULL);
	assert_exit(r, 0);
	assert_contains(json_text(r.out, "timed_out"), "false");
	assert_eq(json_num(r.out, "outdated"), 0);
	snapsafe_watcher_close(w);
	wait_watchers_count(0);
}

/* Read one line from @fd (a pipe), bounded by a hang guard. */
static void read_line(int fd, char *buf, size_t size)
{
	size_t have = 0;

	while (have < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 30000) != 1)
			test_fail("no output line within 30 s (have '%.*s')", (int)have, buf);
		n = read(fd, buf + have, 1);
		if (n <= 0)
			test_fail("output ended (have '%.*s')", (int)have, buf);
		if (buf[have] == '\n')
			break;
		have++;
	}
	buf[have] = '\0';
}

TEST(test_watch_prints_and_acknowledges)
{
	char *argv[] = { (char *)ctl_path, "watch", "--count", "2", NULL };
	char line[64], errbuf[1024];
	int64_t g1, g2;
	int fo, fe;
	pid_t pid;

	pid = spawn(argv, &fo, &fe);
	wait_watchers_count(1);
	g1 = snapsafe_trigger(0);
	read_line(fo, line, sizeof(line));
	assert_eq(strtoll(line, NULL, 10), g1);
	/* It acknowledged: nobody is outdated once it has printed. */
	assert_eq(snapsafe_wait_watchers(30000), 0);
	g2 = snapsafe_trigger(0);
	read_line(fo, line, sizeof(line));
	assert_eq(strtoll(line, NULL, 10), g2);
	assert_eq(wait_code(pid), 0);
	read_all(fe, errbuf, sizeof(errbuf));
	close(fo);
	assert_eq(snapsafe_outdated_watchers(), 0);
	wait_watchers_count(0);

	char *argv_json[] = { (char *)ctl_path, "watch", "--json", "--count=1", NULL };
	pid = spawn(argv_json, &fo, &fe);
	wait_watchers_count(1);
	g1 = snapsafe_trigger(0);
	read_line(fo, line, sizeof(line));
	assert_eq(json_num(line, "generation"), g1);
	assert_eq(wait_code(pid), 0);
	close(fo);
	close(fe);
	wait_watchers_count(0);
}

TEST(test_quiesce_and_resume)
{
	struct run r;
	unsigned long long g;

	r = ctl("quiesce", "--json", NULL);
	assert_exit(r, 0);
	assert_contains(json_text(r.out, "quiesced"), "true");
	g = json_num(r.out, "generation");
	r = ctl("status", "--json", NULL);
	assert_contains(json_text(r.out, "quiesced"), "true");
	assert_eq(json_num(r.out, "generation"), g);
	r = ctl("status", NULL);
	assert_contains(r.out, "quiesced:    yes\n");
	r = ctl("quiesce", NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), g);

	r = ctl("resume", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), g + 1);
	assert_contains(json_text(r.out, "quiesced"), "false");
	r = ctl("status", "--json", NULL);
	assert_contains(json_text(r.out, "quiesced"), "false");
	r = ctl("resume", NULL);
	assert_exit(r, 0);
	assert_eq(number_line(&r), g + 2);
}

TEST(test_unprivileged_control_exits_4)
{
	struct run r;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: setpriv to uid 65534 needs root\n");
		return;
	}
	r = ctl_as_nobody("status", "--json", NULL);
	assert_exit(r, 0);
	assert_true(json_num(r.out, "generation") > 0);
	r = ctl_as_nobody("trigger", NULL);
	assert_exit(r, 4);
	assert_contains(r.err, "snapsafectl: trigger: Permission denied");
	assert_exit(ctl_as_nobody("quiesce", NULL), 4);
	assert_exit(ctl_as_nobody("resume", NULL), 4);
}

TEST(test_watch_exits_6_when_the_daemon_dies)
{
	char *argv[] = { (char *)ctl_path, "watch", NULL };
	char errbuf[1024];
	struct run r;
	int fo, fe;
	pid_t pid;

	pid = spawn(argv, &fo, &fe);
	wait_watchers_count(1);
	td_stop_signal(&daemon_, SIGKILL);
	assert_eq(wait_code(pid), 6);
	read_all(fe, errbuf, sizeof(errbuf));
	assert_contains(errbuf, "snapsafectl: watch: lost the connection to snapsafed");
	close(fo);
	/* The socket file is left behind; nobody listens on it. */
	r = ctl("status", NULL);
	assert_exit(r, 3);
	assert_contains(r.err, "Connection refused (is the daemon running?)");
}

/* ---- against the fake daemon ---- */

static const char *fake_wait = "OK 0\n";
static const char *fake_outdated = "OK 0\n";

static const char *fake_answer(const char *req)
{
	if (strncmp(req, "WAIT ", 5) == 0)
		return fake_wait;
	if (strcmp(req, "OUTDATED") == 0)
		return fake_outdated;
	if (strcmp(req, "QUIESCE") == 0)
		return "OK 0\n";
	return "ERR EINVAL unknown request\n";
}

TEST(test_wait_watchers_timeout_names_the_outdated_pids)
{
	struct fake_daemon f;
	struct run r;

	fake_daemon_start(&f, fake_answer);
	fake_wait = "ERR ETIMEDOUT outdated watcher pids: 1234 5678\n";
	fake_outdated = "OK 2\n";
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", NULL);
	assert_exit(r, 5);
	assert_contains(r.err, "timed out after 100 ms, 2 watcher(s) still outdated "
			"(pids 1234 5678)\n");
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", "--json", NULL);
	assert_exit(r, 5);
	assert_contains(json_text(r.out, "timed_out"), "true");
	assert_eq(json_num(r.out, "outdated"), 2);
	assert_eq(strcmp(json_text(r.out, "outdated_pids"), "[1234,5678]"), 0);
	assert_contains(json_text(r.out, "outdated_pids_truncated"), "false");

	/* More than the daemon's line could hold: it says so, and so do we. */
	fake_wait = "ERR ETIMEDOUT outdated watcher pids: 1234 ...\n";
	fake_outdated = "OK 300\n";
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", NULL);
	assert_exit(r, 5);
	assert_contains(r.err, "300 watcher(s) still outdated (pids 1234 ...)\n");
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout=100", "--json", NULL);
	assert_eq(strcmp(json_text(r.out, "outdated_pids"), "[1234]"), 0);
	assert_contains(json_text(r.out, "outdated_pids_truncated"), "true");

	/* A daemon that names no pids: no list is made up. */
	fake_wait = "ERR ETIMEDOUT timed out\n";
	fake_outdated = "OK 1\n";
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", NULL);
	assert_exit(r, 5);
	assert_contains(r.err, "1 watcher(s) still outdated\n");
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", "--json", NULL);
	assert_eq(json_num(r.out, "outdated"), 1);
	assert_true(!strstr(r.out, "outdated_pids"));

	fake_wait = "OK 0\n";
	r = ctl("--runtime-dir", f.dir, "wait-watchers", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(json_text(r.out, "outdated_pids"), "[]"), 0);
	fake_daemon_stop(&f);
}

TEST(test_wait_watchers_refused_for_own_watcher_says_so)
{
	static const char *const refusals[] = {
		"ERR EDEADLK caller is an outdated watcher\n",
		"ERR EINTR caller is an outdated watcher\n",	/* daemons before EDEADLK */
	};
	struct fake_daemon f;

	fake_daemon_start(&f, fake_answer);
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct run r;

		fake_wait = refusals[i];
		r = ctl("--runtime-dir", f.dir, "wait-watchers", "--timeout", "100", NULL);
		assert_exit(r, 1);
		assert_contains(r.err, "snapsafectl: wait-watchers: this process holds an outdated "
				"watcher\n");
	}
	fake_daemon_stop(&f);
}

TEST(test_quiesce_at_generation_0)
{
	struct fake_daemon f;
	struct run r;

	fake_daemon_start(&f, fake_answer);
	r = ctl("--runtime-dir", f.dir, "quiesce", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), 0);
	fake_daemon_stop(&f);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		test_fail("usage: %s PATH-TO-SNAPSAFECTL", argv[0]);
	ctl_path = argv[1];

	td_init(&daemon_, NULL);
	td_start_argv(&daemon_, NULL);
	/* First without a daemon on the directory. */
	td_stop_signal(&daemon_, SIGTERM);
	RUN(test_usage_errors_exit_2);
	{
		char sock[400];

		snprintf(sock, sizeof(sock), "%s/control.sock", daemon_.rt);
		unlink(sock);
	}
	RUN(test_no_daemon_exits_3_with_a_clear_message);
	td_start_argv(&daemon_, NULL);
	RUN(test_trigger_and_status);
	RUN(test_runtime_dir_before_and_after_the_subcommand);
	RUN(test_outdated_and_wait_watchers);
	RUN(test_watch_prints_and_acknowledges);
	RUN(test_quiesce_and_resume);
	RUN(test_unprivileged_control_exits_4);
	RUN(test_watch_exits_6_when_the_daemon_dies);
	RUN(test_wait_watchers_timeout_names_the_outdated_pids);
	RUN(test_wait_watchers_refused_for_own_watcher_says_so);
	RUN(test_quiesce_at_generation_0);
	td_cleanup(&daemon_);
	return 0;
}
