/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl against the real snapsafed: every subcommand, its human output and its --json
 * output (validated and read back here), --runtime-dir and --json before and after the
 * subcommand, errors as JSON objects, and the documented exit codes: 2 usage, 3 no daemon
 * (and which part of the runtime directory is wrong), 4 refused (run as uid 65534 through
 * setpriv), 5 wait-watchers timeout (also the single check of --timeout 0), 6 daemon lost
 * under `watch`, 7 a stale page (a daemon killed with SIGKILL); a result that cannot be
 * written (stdout on /dev/full) is exit 1. `watchers` and `metrics` are checked against the
 * watchers and raises this test makes. Replies the real daemon cannot be made to give on
 * demand (the outdated pids of a timeout, a refused wait, an older daemon's EINTR, STATUS
 * without pid, WATCHERS and METRICS unknown, generation 0) come from
 * test/client/fake-daemon.h. Every wait has a deadline; no sleep stands in for an event.
 * Usage: test-snapsafectl PATH-TO-SNAPSAFECTL
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

enum {
	/* The longest one snapsafectl run may take before the test calls it a hang. */
	RUN_DEADLINE_MS = 60000,
};

/* Read stdout and stderr of @pid until both end, then reap it; a hang fails the test. */
static void collect(pid_t pid, int fo, int fe, struct run *r)
{
	char *buf[2] = { r->out, r->err };
	size_t have[2] = { 0, 0 };
	struct pollfd p[2] = { { .fd = fo, .events = POLLIN }, { .fd = fe, .events = POLLIN } };
	uint64_t deadline = td_now_ms() + RUN_DEADLINE_MS;
	int open = (fo >= 0) + (fe >= 0);

	while (open > 0) {
		int64_t left = (int64_t)deadline - (int64_t)td_now_ms();
		int n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			test_fail("snapsafectl did not finish within %d ms (stdout '%.*s', stderr "
				  "'%.*s')", RUN_DEADLINE_MS, (int)have[0], r->out, (int)have[1],
				  r->err);
		}
		n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			test_fail("poll: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			char scratch[4096];
			ssize_t k;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			/* Past what the test keeps, drain: a full pipe would stop the child. */
			if (have[i] + 1 < sizeof(r->out))
				k = read(p[i].fd, buf[i] + have[i], sizeof(r->out) - 1 - have[i]);
			else
				k = read(p[i].fd, scratch, sizeof(scratch));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open--;
			} else if (have[i] + 1 < sizeof(r->out)) {
				have[i] += (size_t)k;
			}
		}
	}
	r->out[have[0]] = '\0';
	r->err[have[1]] = '\0';
	r->code = wait_code(pid);
}

/*
 * Run a command line given as words, NULL-terminated; @prefix words go first (setpriv).
 * @out_fd: where its stdout goes, or -1 for a pipe that the test reads.
 */
static struct run run_argv(char **prefix, int out_fd, const char *first, va_list ap)
{
	static struct run r;
	char *argv[32];
	int n = 0, out[2] = { -1, -1 }, err[2];
	pid_t pid;

	for (; prefix && *prefix; prefix++)
		argv[n++] = *prefix;
	argv[n++] = (char *)ctl_path;
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(n < 31);
		argv[n++] = (char *)a;
	}
	argv[n] = NULL;
	if (out_fd < 0)
		assert_eq(pipe2(out, O_CLOEXEC), 0);
	assert_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out_fd >= 0 ? out_fd : out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	if (out_fd < 0)
		close(out[1]);
	close(err[1]);
	memset(&r, 0, sizeof(r));
	collect(pid, out[0], err[0], &r);
	return r;
}

static struct run ctl(const char *first, ...)
{
	struct run r;
	va_list ap;

	va_start(ap, first);
	r = run_argv(NULL, -1, first, ap);
	va_end(ap);
	return r;
}

/* ctl() with stdout on @fd (/dev/full). */
static struct run ctl_to(int fd, const char *first, ...)
{
	struct run r;
	va_list ap;

	va_start(ap, first);
	r = run_argv(NULL, fd, first, ap);
	va_end(ap);
	return r;
}

static char *setpriv_nobody[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
				  "--clear-groups", NULL };

static struct run ctl_as_nobody(const char *first, ...)
{
	struct run r;
	va_list ap;

	va_start(ap, first);
	r = run_argv(setpriv_nobody, -1, first, ap);
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
	static char buf[2048];

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

/*
 * An error under --json: one valid object on stdout with the exit code, the errno name (or
 * null: @errno_name NULL) and the same message as on stderr after "snapsafectl: ".
 */
static void assert_json_error(const struct run *r, int code, const char *errno_name)
{
	char msg[1024];

	assert_exit(*r, code);
	assert_eq(json_num(r->out, "exit"), code);
	if (strcmp(json_text(r->out, "errno"), errno_name ? errno_name : "null") != 0)
		test_fail("errno '%s', expected '%s' in '%s'", json_text(r->out, "errno"),
			  errno_name ? errno_name : "null", r->out);
	snprintf(msg, sizeof(msg), "snapsafectl: %s\n", json_text(r->out, "error"));
	if (strlen(msg) < 16 || !strstr(r->err, msg))
		test_fail("stderr '%s' does not say the JSON error '%s'", r->err, msg);
}

/* The value of the sample @series ("name" or "name{labels}") in a Prometheus text. */
static unsigned long long metric_value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		if (strncmp(line, series, n) == 0 && line[n] == ' ') {
			char *end;
			unsigned long long v = strtoull(line + n + 1, &end, 10);

			if (*end != '\n')
				test_fail("sample '%s' is not 'series value'", series);
			return v;
		}
		if (!strchr(line, '\n'))
			break;
	}
	test_fail("no sample '%s' in '%s'", series, text);
}

/*
 * The Prometheus text exposition format as scrapers read it: every line a comment or a
 * sample; every family's HELP and TYPE (counter or gauge) before its samples; counters end
 * in _total; every sample of a declared family.
 */
static void assert_prometheus_text(const char *text)
{
	char family[128] = "", type[16] = "";
	bool help = false;

	if (!*text || text[strlen(text) - 1] != '\n')
		test_fail("metrics text does not end in a newline: '%s'", text);
	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		size_t len = (size_t)(strchr(line, '\n') - line);
		char name[128];

		if (strncmp(line, "# HELP ", 7) == 0) {
			if (sscanf(line + 7, "%127s", family) != 1)
				test_fail("bad HELP line '%.*s'", (int)len, line);
			help = true;
			type[0] = '\0';
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s %15s", name, type) != 2 || strcmp(name, family) ||
			    !help || (strcmp(type, "counter") && strcmp(type, "gauge")))
				test_fail("TYPE line '%.*s' without its HELP or of no known type",
					  (int)len, line);
			if (!strcmp(type, "counter") &&
			    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
				test_fail("counter '%s' does not end in _total", name);
			continue;
		}
		if (line[0] == '#')
			test_fail("unknown comment line '%.*s'", (int)len, line);
		if (!type[0] || strncmp(line, family, strlen(family)) != 0 ||
		    (line[strlen(family)] != ' ' && line[strlen(family)] != '{'))
			test_fail("sample '%.*s' outside its family '%s'", (int)len, line, family);
		if (strncmp(line, "snapsafe_", 9) != 0)
			test_fail("sample '%.*s' without the snapsafe_ prefix", (int)len, line);
	}
}

/* The process name as the daemon shows it (comm, [A-Za-z0-9._+-] kept, others '_'). */
static void own_comm(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/comm", "re");

	if (!f || !fgets(buf, (int)size, f))
		test_fail("/proc/self/comm: %s", strerror(errno));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	for (char *c = buf; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", *c))
			*c = '_';
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
	assert_contains(r.err, "unknown subcommand 'frobnicate' (see snapsafectl --help)\n");
	assert_exit(ctl("trigger", "--min-gen", "abc", NULL), 2);
	assert_exit(ctl("trigger", "--min-gen", "4294967296", NULL), 2);
	assert_exit(ctl("status", "extra", NULL), 2);
	assert_exit(ctl("--runtime-dir", NULL), 2);
	assert_exit(ctl("status", "--runtime-dir", NULL), 2);
	assert_exit(ctl("--json=yaml", "status", NULL), 2);
	r = ctl("--help", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "Usage: snapsafectl");
	assert_contains(r.out, "wait-watchers");
	assert_contains(r.out, "7 stale page");
	r = ctl("trigger", "--help", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "--min-gen");
}

/* -V and --version work; getopt's errors point at the help that would have helped. */
TEST(test_version_and_usage_hints)
{
	char want[64];
	struct run r;

	snprintf(want, sizeof(want), "snapsafectl %s (control protocol 1)\n", SNAPSAFE_VERSION);
	r = ctl("-V", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(r.out, want), 0);
	r = ctl("--version", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(r.out, want), 0);

	r = ctl("status", "--bogus", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "snapsafectl: status: unknown option '--bogus' "
			"(see snapsafectl status --help)\n");
	r = ctl("trigger", "--min-gen", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "snapsafectl: trigger: --min-gen needs a value "
			"(see snapsafectl trigger --help)\n");
	r = ctl("wait-watchers", "--timeout=soon", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "(see snapsafectl wait-watchers --help)\n");
	r = ctl("watch", "now", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "unexpected argument 'now' (see snapsafectl watch --help)\n");
	r = ctl("--bogus", "status", NULL);
	assert_exit(r, 2);
	assert_contains(r.err, "snapsafectl: unknown option '--bogus' (see snapsafectl --help)\n");
}

TEST(test_no_daemon_exits_3_with_a_clear_message)
{
	static const char *const cmds[] = { "trigger", "watch", "watchers", "outdated",
					    "wait-watchers", "quiesce", "resume", "metrics" };
	char expect[512];
	struct run r;

	snprintf(expect, sizeof(expect), "cannot reach snapsafed at %s/control.sock: ", daemon_.rt);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = ctl(cmds[i], NULL);
		assert_exit(r, 3);
		assert_contains(r.err, expect);
		assert_contains(r.err, "No such file or directory (is the daemon running?)");
		assert_eq(r.out[0], '\0');
	}
	/* status reads the page instead: the daemon stopped cleanly, and the page says so. */
	r = ctl("status", NULL);
	assert_exit(r, 3);
	snprintf(expect, sizeof(expect), "snapsafectl: status: no daemon runs at %s: the page says "
		 "the last one stopped", daemon_.rt);
	assert_contains(r.err, expect);
	assert_contains(r.out, "daemon:      none\n");
	assert_contains(r.out, "generation:  ");
	r = ctl("status", "--json", NULL);
	assert_json_error(&r, 3, "ENOENT");
	assert_contains(json_text(r.out, "daemon"), "stopped");
	assert_contains(json_text(r.out, "notifiers.control"), "false");
	assert_true(!strstr(r.out, "\"pid\""));
}

/* A directory without a page or a socket: nothing ran there; status is unreachable too. */
TEST(test_no_page_at_all_is_unreachable)
{
	char dir[400], expect[512];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/empty", daemon_.dir);
	assert_eq(mkdir(dir, 0755), 0);
	snprintf(expect, sizeof(expect), "snapsafectl: cannot reach snapsafed at %s/control.sock: "
		 "No such file or directory (is the daemon running?)\n", dir);
	r = ctl("--runtime-dir", dir, "status", NULL);
	assert_exit(r, 3);
	assert_eq(strcmp(r.err, expect), 0);
	assert_eq(r.out[0], '\0');
	r = ctl("status", "--json", "--runtime-dir", dir, NULL);
	assert_json_error(&r, 3, "ENOENT");
	rmdir(dir);
}

/*
 * A page that is not one (a daemon that has created the file but not yet written its
 * header, or another program's file): a clear error that names what it found, no crash.
 */
TEST(test_a_page_without_the_header_is_named_not_read_after_unmap)
{
	char dir[400], page[420], expect[600];
	static const char zero[4096];
	struct run r;
	int fd;

	snprintf(dir, sizeof(dir), "%s/headerless", daemon_.dir);
	assert_eq(mkdir(dir, 0755), 0);
	snprintf(page, sizeof(page), "%s/generation", dir);
	fd = open(page, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_eq(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);
	snprintf(expect, sizeof(expect), "snapsafectl: status: %s is not a generation page this "
		 "version knows (magic 0x00000000, version 0)\n", page);
	r = ctl("--runtime-dir", dir, "status", NULL);
	assert_exit(r, 1);
	assert_eq(strcmp(r.err, expect), 0);
	unlink(page);
	rmdir(dir);
}

/* Which part of the runtime directory is wrong, in words and in the JSON errno. */
TEST(test_runtime_dir_errors_say_which)
{
	char missing[400], file[400], below_file[420], longdir[400], priv[400];
	struct run r;
	int fd;

	snprintf(missing, sizeof(missing), "%s/missing", daemon_.dir);
	r = ctl("--runtime-dir", missing, "--json", "outdated", NULL);
	assert_json_error(&r, 3, "ENOENT");
	assert_contains(r.err, "the runtime directory ");
	assert_contains(r.err, "/missing does not exist (is the daemon running?)\n");

	snprintf(file, sizeof(file), "%s/a-file", daemon_.dir);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	r = ctl("--runtime-dir", file, "--json", "status", NULL);
	assert_json_error(&r, 3, "ENOTDIR");
	assert_contains(r.err, "/a-file is not a directory\n");
	snprintf(below_file, sizeof(below_file), "%s/rt", file);
	r = ctl("--runtime-dir", below_file, "--json", "trigger", NULL);
	assert_json_error(&r, 3, "ENOTDIR");
	assert_contains(r.err, "/a-file/rt is not a directory: a part of its path is a file\n");
	unlink(file);

	/* sun_path holds 107 bytes and a NUL; the path does not need to exist to be too long. */
	snprintf(longdir, sizeof(longdir), "/tmp/%0120d", 0);
	r = ctl("--runtime-dir", longdir, "--json", "status", NULL);
	assert_json_error(&r, 3, "ENAMETOOLONG");
	assert_contains(r.err, "the path is 138 bytes, longer than the 107 a Unix socket address "
			"holds");

	if (geteuid() != 0) {
		fprintf(stderr, "skipped the mode 0700 case: setpriv to uid 65534 needs root\n");
		return;
	}
	snprintf(priv, sizeof(priv), "%s/private", daemon_.dir);
	assert_eq(mkdir(priv, 0700), 0);
	assert_eq(chmod(priv, 0700), 0);
	r = ctl_as_nobody("--runtime-dir", priv, "--json", "status", NULL);
	assert_json_error(&r, 3, "EACCES");
	assert_contains(r.err, "permission denied: uid 65534 may not enter the runtime directory ");
	assert_contains(r.err, "/private (mode 0700, owner uid 0)\n");
	/* Root may enter: there it is only the missing socket. */
	r = ctl("--runtime-dir", priv, "outdated", NULL);
	assert_exit(r, 3);
	assert_contains(r.err, "No such file or directory (is the daemon running?)\n");
	rmdir(priv);
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

/* With a daemon: its pid and version, and how long ago and by whom the last raise was. */
TEST(test_status_names_the_daemon_and_the_last_raise)
{
	char want[128];
	struct run r;

	assert_exit(ctl("trigger", NULL), 0);
	r = ctl("status", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(json_text(r.out, "daemon"), "running"), 0);
	assert_eq(json_num(r.out, "pid"), daemon_.pid);
	assert_eq(strcmp(json_text(r.out, "daemon_version"), SNAPSAFE_VERSION), 0);
	assert_eq(strcmp(json_text(r.out, "raise_notifier"), "control"), 0);

	r = ctl("status", NULL);
	assert_exit(r, 0);
	snprintf(want, sizeof(want), "daemon:      pid %d, version %s\n", (int)daemon_.pid,
		 SNAPSAFE_VERSION);
	assert_contains(r.out, want);
	/* Raised a moment ago: seconds (or ms on a fast machine), never minutes. */
	assert_contains(r.out, " UTC, ");
	assert_contains(r.out, " ago, by control\n");
	assert_true(!strstr(r.out, " min "));
}

/* --json before or after the subcommand, --json=pretty, and every error as a JSON object. */
TEST(test_json_anywhere_pretty_and_errors)
{
	unsigned long long g;
	struct run r;

	r = ctl("--json", "status", NULL);
	assert_exit(r, 0);
	g = json_num(r.out, "generation");
	assert_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1);	/* one line */
	r = ctl("status", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), g);
	r = ctl("--json=pretty", "status", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), g);
	assert_eq(strncmp(r.out, "{\n  \"version\": 1,\n  \"generation\": ", 34), 0);
	assert_contains(r.out, "\n  \"notifiers\": {\n    \"control\": true,\n");
	assert_contains(r.out, "\n}\n");
	r = ctl("outdated", "--json=pretty", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(r.out, "{\n  \"outdated\": 0\n}\n"), 0);
	r = ctl("--json", "trigger", "--min-gen", "0", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), g + 1);

	/* Errors: usage, unreachable, and one from the daemon. */
	r = ctl("--json", "frobnicate", NULL);
	assert_json_error(&r, 2, NULL);
	assert_eq(strcmp(json_text(r.out, "error"),
			 "unknown subcommand 'frobnicate' (see snapsafectl --help)"), 0);
	r = ctl("trigger", "--bogus", "--json", NULL);
	assert_json_error(&r, 2, NULL);
	r = ctl("--json=pretty", "trigger", "--min-gen", NULL);
	assert_json_error(&r, 2, NULL);
	assert_contains(r.out, "{\n  \"error\": ");
	r = ctl("--json=yaml", "status", NULL);
	assert_json_error(&r, 2, NULL);
	r = ctl("outdated", "--runtime-dir", "/nonexistent/snapsafe", "--json", NULL);
	assert_json_error(&r, 3, "ENOENT");
	r = ctl("trigger", "--min-gen", "4294967295", "--json", NULL);
	assert_json_error(&r, 1, "ERANGE");
	if (geteuid() == 0) {
		r = ctl_as_nobody("--json", "trigger", NULL);
		assert_json_error(&r, 4, "EACCES");
		assert_contains(json_text(r.out, "error"), "trigger: Permission denied");
	}
}

/* A result that does not reach stdout is a failure, even when the request was done. */
TEST(test_write_error_on_stdout_is_a_failure)
{
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	unsigned long long g;
	struct run r;

	if (full < 0)
		test_skip("/dev/full: %s", strerror(errno));
	r = ctl("status", "--json", NULL);
	g = json_num(r.out, "generation");
	r = ctl_to(full, "trigger", NULL);
	assert_exit(r, 1);
	assert_eq(strcmp(r.err, "snapsafectl: trigger: cannot write to standard output: "
			 "No space left on device\n"), 0);
	/* It did raise: only the answer was lost. */
	r = ctl("status", "--json", NULL);
	assert_eq(json_num(r.out, "generation"), g + 1);

	r = ctl_to(full, "status", "--json=pretty", NULL);
	assert_exit(r, 1);
	assert_contains(r.err, "snapsafectl: status: cannot write to standard output: ");
	r = ctl_to(full, "--help", NULL);
	assert_exit(r, 1);
	r = ctl_to(full, "--version", NULL);
	assert_exit(r, 1);
	r = ctl_to(full, "metrics", NULL);
	assert_exit(r, 1);
	close(full);
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

/* --timeout 0 asks once and answers at once: 0 when nobody is outdated, else 5 and who. */
TEST(test_wait_watchers_timeout_0_checks_once)
{
	struct snapsafe_watcher *w = NULL;
	char pids[64];
	struct run r;
	int64_t g;

	wait_watchers_count(0);
	r = ctl("wait-watchers", "--timeout", "0", NULL);
	assert_exit(r, 0);
	assert_eq(r.out[0], '\0');
	assert_eq(r.err[0], '\0');

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w), 0);
	g = snapsafe_trigger(0);
	assert_true(g > 0);
	/* Outdated for good until this test acknowledges: a wait would never end. */
	r = ctl("wait-watchers", "--timeout", "0", NULL);
	assert_exit(r, 5);
	snprintf(pids, sizeof(pids), "1 watcher(s) still outdated (pids %d)\n", (int)getpid());
	assert_contains(r.err, "snapsafectl: wait-watchers: not waiting (--timeout 0), ");
	assert_contains(r.err, pids);
	r = ctl("--json", "wait-watchers", "--timeout=0", NULL);
	assert_json_error(&r, 5, "ETIMEDOUT");
	assert_contains(json_text(r.out, "timed_out"), "true");
	assert_eq(json_num(r.out, "outdated"), 1);
	assert_eq(json_num(r.out, "outdated_pids.0"), getpid());

	assert_eq(snapsafe_watcher_ack(w, (uint32_t)g), 0);
	r = ctl("wait-watchers", "--timeout", "0", "--json", NULL);
	assert_exit(r, 0);
	assert_contains(json_text(r.out, "timed_out"), "false");
	snapsafe_watcher_close(w);
	wait_watchers_count(0);
}

/*
 * Wait until @pid sits in recvfrom(2): snapsafectl sends its request before it first
 * receives, so it is then waiting for the daemon's reply. Fails if it exits instead.
 */
static void wait_blocked_in_recv(pid_t pid)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (;;) {
		int status, fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if (strtol(buf, NULL, 10) == SYS_recvfrom && buf[0] != '-')
				return;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			test_fail("snapsafectl exited (status 0x%x) where it had to wait", status);
		if (td_now_ms() > deadline)
			test_fail("snapsafectl never waited for a reply (%s: '%s')", path,
				  n > 0 ? buf : strerror(errno));
		td_sleep_ms(5);
	}
}

/* No --timeout: it waits as long as it takes, and returns 0 once the watcher acknowledges. */
TEST(test_wait_watchers_without_timeout_waits_until_acknowledged)
{
	char *argv[] = { (char *)ctl_path, "wait-watchers", NULL };
	struct snapsafe_watcher *w = NULL;
	struct run r = {};
	int fo, fe;
	int64_t g;
	pid_t pid;

	assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w), 0);
	g = snapsafe_trigger(0);
	assert_true(g > 0);
	pid = spawn(argv, &fo, &fe);
	/* WAIT sent and not answered: the watcher is outdated and stays so until acked. */
	wait_blocked_in_recv(pid);
	/*
	 * A wait that began later with a timeout of 200 ms times out first: had the one
	 * without --timeout asked with any timeout up to that, the daemon would have timed
	 * it out before (and it would exit 5 below).
	 */
	r = ctl("wait-watchers", "--timeout", "200", NULL);
	assert_exit(r, 5);
	assert_eq(snapsafe_watcher_ack(w, (uint32_t)g), 0);
	collect(pid, fo, fe, &r);
	assert_exit(r, 0);
	assert_eq(r.err[0], '\0');
	snapsafe_watcher_close(w);
	wait_watchers_count(0);
}

/*
 * More watchers than one WATCHERS reply holds (16), some outdated: all listed, the outdated
 * first, each with this process's pid, uid, name and acknowledged generation.
 */
TEST(test_watchers_lists_every_watcher_outdated_first)
{
	/* Acknowledged in the middle: the daemon's order cannot put them last by chance. */
	enum { N = 20, ACKED = 5, FIRST_ACKED = 8 };
	struct snapsafe_watcher *w[N];
	char comm[32], path[32], line[128];
	unsigned long long outdated_ms_first;
	struct run r;
	int64_t g0, g;

	own_comm(comm, sizeof(comm));
	wait_watchers_count(0);
	r = ctl("watchers", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(r.out, "no watchers\n"), 0);
	r = ctl("watchers", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(strcmp(r.out, "[]\n"), 0);

	r = ctl("status", "--json", NULL);
	g0 = (int64_t)json_num(r.out, "generation");
	for (int i = 0; i < N; i++)
		assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w[i]), 0);
	g = snapsafe_trigger(0);
	assert_eq(g, g0 + 1);
	for (int i = FIRST_ACKED; i < FIRST_ACKED + ACKED; i++)
		assert_eq(snapsafe_watcher_ack(w[i], (uint32_t)g), 0);

	r = ctl("watchers", "--json", NULL);
	assert_exit(r, 0);
	if (!json_valid(r.out))
		test_fail("not valid JSON: '%s'", r.out);
	assert_eq(json_array_length(r.out), N);
	outdated_ms_first = json_num(r.out, "0.outdated_ms");
	for (int i = 0; i < N; i++) {
		bool outdated = i < N - ACKED;

		snprintf(path, sizeof(path), "%d.pid", i);
		assert_eq(json_num(r.out, path), getpid());
		snprintf(path, sizeof(path), "%d.uid", i);
		assert_eq(json_num(r.out, path), getuid());
		snprintf(path, sizeof(path), "%d.comm", i);
		assert_eq(strcmp(json_text(r.out, path), comm), 0);
		snprintf(path, sizeof(path), "%d.acked", i);
		assert_eq(json_num(r.out, path), outdated ? g0 : g);
		snprintf(path, sizeof(path), "%d.outdated", i);
		assert_eq(strcmp(json_text(r.out, path), outdated ? "true" : "false"), 0);
		snprintf(path, sizeof(path), "%d.outdated_ms", i);
		if (outdated)
			assert_true(json_num(r.out, path) > 0);
		else
			assert_eq(json_num(r.out, path), 0);
	}
	assert_true(outdated_ms_first > 0);

	r = ctl("watchers", NULL);
	assert_exit(r, 0);
	assert_eq(strncmp(r.out, "PID        UID        COMM             ACKED       OUTDATED FOR\n",
			  63), 0);
	snprintf(line, sizeof(line), "\n%-10d %-10u %-16s %-11lld ", (int)getpid(),
		 (unsigned)getuid(), comm, (long long)g0);
	assert_contains(r.out, line);
	snprintf(line, sizeof(line), "\n%-10d %-10u %-16s %-11lld -\n", (int)getpid(),
		 (unsigned)getuid(), comm, (long long)g);
	assert_contains(r.out, line);
	/* Outdated first: the first row is an outdated one, the last an acknowledged one. */
	snprintf(line, sizeof(line), "%lld ", (long long)g0);
	assert_eq(strncmp(strchr(r.out, '\n') + 1 + 10 + 1 + 10 + 1 + 16 + 1, line, strlen(line)),
		  0);
	snprintf(line, sizeof(line), "%-11lld -\n\n%d watcher(s), %d outdated\n", (long long)g, N,
		 N - ACKED);
	assert_contains(r.out, line);

	for (int i = 0; i < N; i++)
		snapsafe_watcher_close(w[i]);
	wait_watchers_count(0);
}

/* The counters as Prometheus and JSON show them, moved by what this test does. */
TEST(test_metrics_prometheus_and_json)
{
	struct snapsafe_watcher *w[2];
	unsigned long long raises, epochs, refused, gen;
	uint64_t deadline;
	struct run r, j;

	wait_watchers_count(0);
	r = ctl("metrics", NULL);
	assert_exit(r, 0);
	assert_prometheus_text(r.out);
	assert_contains(r.out, "# TYPE snapsafe_raises_total counter\n");
	assert_contains(r.out, "# TYPE snapsafe_generation gauge\n");
	raises = metric_value(r.out, "snapsafe_raises_total{notifier=\"control\"}");
	epochs = metric_value(r.out, "snapsafe_epochs_total{notifier=\"control\"}");
	refused = metric_value(r.out, "snapsafe_requests_refused_total");
	assert_eq(metric_value(r.out, "snapsafe_watchers"), 0);
	metric_value(r.out, "snapsafe_raises_total{notifier=\"vmfork-kmsg\"}");
	metric_value(r.out, "snapsafe_epochs_total{notifier=\"none\"}");
	metric_value(r.out, "snapsafe_connections_accepted_total");
	metric_value(r.out, "snapsafe_connections_refused_total");

	for (int i = 0; i < 2; i++)
		assert_eq(snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w[i]), 0);
	/* Two raises, three epochs: a quiesce changes the epoch only. */
	assert_exit(ctl("trigger", NULL), 0);
	assert_exit(ctl("quiesce", NULL), 0);
	assert_exit(ctl("resume", NULL), 0);
	if (geteuid() == 0)
		assert_exit(ctl_as_nobody("trigger", NULL), 4);
	/*
	 * Connections now: the two watchers and the one that asks. The daemon may not have
	 * seen the end of an earlier snapsafectl's connection yet: ask until it has.
	 */
	deadline = td_now_ms() + TD_WAIT_MS;
	for (;;) {
		r = ctl("metrics", NULL);
		assert_exit(r, 0);
		if (metric_value(r.out, "snapsafe_clients") == 3)
			break;
		if (td_now_ms() > deadline)
			test_fail("snapsafe_clients never became 3: '%s'", r.out);
		td_sleep_ms(10);
	}
	assert_prometheus_text(r.out);
	assert_eq(metric_value(r.out, "snapsafe_raises_total{notifier=\"control\"}"), raises + 2);
	assert_eq(metric_value(r.out, "snapsafe_epochs_total{notifier=\"control\"}"), epochs + 3);
	assert_eq(metric_value(r.out, "snapsafe_requests_refused_total"),
		  refused + (geteuid() == 0));
	assert_eq(metric_value(r.out, "snapsafe_watchers"), 2);
	assert_eq(metric_value(r.out, "snapsafe_watchers_outdated"), 2);
	j = ctl("status", "--json", NULL);
	gen = json_num(j.out, "generation");
	assert_eq(metric_value(r.out, "snapsafe_generation"), gen);

	j = ctl("metrics", "--json", NULL);
	assert_exit(j, 0);
	assert_eq(json_num(j.out, "generation"), gen);
	assert_eq(json_num(j.out, "raises.control"), raises + 2);
	assert_eq(json_num(j.out, "epochs.control"), epochs + 3);
	assert_eq(json_num(j.out, "requests_refused"), refused + (geteuid() == 0));
	assert_eq(json_num(j.out, "watchers"), 2);
	assert_eq(json_num(j.out, "watchers_outdated"), 2);
	assert_true(json_num(j.out, "clients") >= 3);
	json_num(j.out, "connections_accepted");
	json_num(j.out, "connections_refused");
	for (int i = 0; i < 2; i++)
		snapsafe_watcher_close(w[i]);
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

/* A daemon that owns the page but whose socket is gone: status says so, from the page. */
TEST(test_status_page_owned_but_socket_gone)
{
	char away[400], want[1200];
	struct run r;

	snprintf(away, sizeof(away), "%s.away", daemon_.sock);
	assert_eq(rename(daemon_.sock, away), 0);
	r = ctl("status", NULL);
	assert_exit(r, 3);
	snprintf(want, sizeof(want), "snapsafectl: status: a daemon (pid %d) owns %s/generation but "
		 "does not answer on %s: No such file or directory", (int)daemon_.pid, daemon_.rt,
		 daemon_.sock);
	assert_contains(r.err, want);
	assert_contains(r.out, "daemon:      owns the page but does not answer\n");
	r = ctl("status", "--json", NULL);
	assert_json_error(&r, 3, "ENOENT");
	assert_eq(strcmp(json_text(r.out, "daemon"), "not-answering"), 0);
	assert_eq(json_num(r.out, "pid"), daemon_.pid);
	assert_eq(rename(away, daemon_.sock), 0);
	assert_exit(ctl("status", NULL), 0);
}

/*
 * A daemon killed with SIGKILL leaves RUNNING in the page and its lock gone: status calls
 * the page stale (exit 7), names the dead daemon's pid, and shows what libraries still see.
 */
TEST(test_status_of_a_killed_daemon_is_stale)
{
	char want[600];
	unsigned long long g;
	struct run r;
	pid_t pid;

	td_start_argv(&daemon_, NULL);
	pid = daemon_.pid;
	r = ctl("trigger", "--json", NULL);
	assert_exit(r, 0);
	g = json_num(r.out, "generation");
	td_stop_signal(&daemon_, SIGKILL);

	r = ctl("status", NULL);
	assert_exit(r, 7);
	snprintf(want, sizeof(want), "snapsafectl: status: the page %s/generation says a daemon runs "
		 "(pid %d) but none does: it was killed; libraries trust the page until the next "
		 "start of snapsafed\n", daemon_.rt, (int)pid);
	assert_eq(strcmp(r.err, want), 0);
	assert_contains(r.out, "daemon:      none, but the page says one runs (stale)\n");
	snprintf(want, sizeof(want), "generation:  %llu\n", g);
	assert_contains(r.out, want);
	assert_contains(r.out, "  control      live\n");
	r = ctl("--json", "status", NULL);
	assert_json_error(&r, 7, NULL);
	assert_eq(strcmp(json_text(r.out, "daemon"), "stale"), 0);
	assert_eq(json_num(r.out, "pid"), pid);
	assert_eq(json_num(r.out, "generation"), g);
	assert_contains(json_text(r.out, "notifiers.control"), "true");
	/* The other subcommands only see that nobody listens. */
	r = ctl("outdated", NULL);
	assert_exit(r, 3);
	assert_contains(r.err, "Connection refused (is the daemon running?)");
	/* The next start takes the page over: running again. */
	td_start_argv(&daemon_, NULL);
	assert_exit(ctl("status", NULL), 0);
	td_stop_signal(&daemon_, SIGTERM);
	r = ctl("status", NULL);
	assert_exit(r, 3);
	assert_contains(r.out, "daemon:      none\n");
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
	/* The socket file is left behind; nobody listens on it (status: the stale test). */
	r = ctl("outdated", NULL);
	assert_exit(r, 3);
	assert_contains(r.err, "Connection refused (is the daemon running?)");
}

/* ---- against the fake daemon ---- */

static const char *fake_wait = "OK 0\n";
static const char *fake_outdated = "OK 0\n";
/* STATUS: an older daemon's line (no pid=, daemon_version=, raise_notifier=) ... */
static const char *fake_status_tail = "";
/* ... whose last raise was this long ago, or never (-1). */
static long long fake_raise_age_ms = -1;

static const char *fake_status(void)
{
	static char line[512];
	unsigned long long ns = 0;

	if (fake_raise_age_ms >= 0) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		ns = (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec -
		     (unsigned long long)fake_raise_age_ms * 1000000ull;
	}
	snprintf(line, sizeof(line), "OK version=1 generation=7 epoch=0x01000008 epoch_notifier="
		 "control watchers=2 outdated=1 quiesced=0 last_raise_ns=%llu notifiers=control:"
		 "live,timer:off,vmfork-kmsg:live,uevent:off,vmclock:off,sysgenid:off,startup:off"
		 "%s\n", ns, fake_status_tail);
	return line;
}

static const char *fake_answer(const char *req)
{
	if (strncmp(req, "WAIT ", 5) == 0)
		return fake_wait;
	if (strcmp(req, "OUTDATED") == 0)
		return fake_outdated;
	if (strcmp(req, "QUIESCE") == 0)
		return "OK 0\n";
	if (strcmp(req, "STATUS") == 0)
		return fake_status();
	return "ERR EINVAL unknown request\n";
}

/* A daemon from before pid= and daemon_version=: status works, and makes nothing up. */
TEST(test_status_of_an_older_daemon)
{
	struct fake_daemon f;
	int min = -1, sec = -1;
	const char *last;
	struct run r;

	fake_daemon_start(&f, fake_answer);
	fake_status_tail = "";
	fake_raise_age_ms = 192100;	/* 3 min 12.1 s */
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "daemon:      running (too old to report its pid and version)\n");
	assert_contains(r.out, "generation:  7\n");
	last = strstr(r.out, "last raise:  ");
	assert_true(last != NULL);
	/* "... UTC, 3 min 12 s ago": a very slow machine may take a few seconds more. */
	last = strstr(last, " UTC, ");
	assert_true(last != NULL);
	if (sscanf(last, " UTC, %d min %d s ago\n", &min, &sec) != 2 || min != 3 || sec < 12)
		test_fail("last raise: '%.40s', expected 3 min 12 s ago", last);
	assert_true(!strstr(r.out, " by "));
	r = ctl("--runtime-dir", f.dir, "status", "--json", NULL);
	assert_exit(r, 0);
	assert_eq(json_num(r.out, "generation"), 7);
	assert_eq(strcmp(json_text(r.out, "daemon"), "running"), 0);
	assert_true(!strstr(r.out, "\"pid\""));
	assert_true(!strstr(r.out, "daemon_version"));
	assert_true(!strstr(r.out, "raise_notifier"));

	/* Never raised; and a newer daemon that names itself and the notifier. */
	fake_raise_age_ms = -1;
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "last raise:  never\n");
	fake_status_tail = " pid=4242 daemon_version=9.8.7 raise_notifier=vmclock";
	fake_raise_age_ms = 1500;
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_exit(r, 0);
	assert_contains(r.out, "daemon:      pid 4242, version 9.8.7\n");
	assert_contains(r.out, " ago, by vmclock\n");
	fake_status_tail = " pid=4242 daemon_version=9.8.7 raise_notifier=none";
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_contains(r.out, " ago, before this daemon started\n");
	assert_true(!strstr(r.out, "vmclock:"));
	/* Who may map VMClock: said when the daemon says it. */
	fake_status_tail = " pid=4242 daemon_version=9.8.7 raise_notifier=none vmclock=privileged";
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_contains(r.out, "vmclock:     root only (");
	r = ctl("--runtime-dir", f.dir, "--json", "status", NULL);
	assert_eq(strcmp(json_text(r.out, "vmclock"), "privileged"), 0);
	fake_status_tail = " pid=4242 daemon_version=9.8.7 raise_notifier=none vmclock=everyone";
	r = ctl("--runtime-dir", f.dir, "status", NULL);
	assert_contains(r.out, "vmclock:     readable by every user\n");
	fake_status_tail = "";
	fake_daemon_stop(&f);
}

/* WATCHERS and METRICS to a daemon that does not know them: it is too old, in so many words. */
TEST(test_watchers_and_metrics_of_an_older_daemon)
{
	static const char *const cmds[] = { "watchers", "metrics" };
	struct fake_daemon f;

	fake_daemon_start(&f, fake_answer);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[256];
		struct run r;

		r = ctl("--runtime-dir", f.dir, cmds[i], NULL);
		assert_exit(r, 1);
		snprintf(want, sizeof(want), "snapsafectl: %s: this snapsafed is too old: it does not "
			 "know the %s request (snapsafectl %s does); upgrade and restart snapsafed\n",
			 cmds[i], strcmp(cmds[i], "watchers") ? "METRICS" : "WATCHERS",
			 SNAPSAFE_VERSION);
		assert_eq(strcmp(r.err, want), 0);
		assert_eq(r.out[0], '\0');
		r = ctl("--runtime-dir", f.dir, cmds[i], "--json", NULL);
		assert_json_error(&r, 1, "EINVAL");
	}
	fake_daemon_stop(&f);
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
	RUN(test_version_and_usage_hints);
	{
		char sock[400];

		snprintf(sock, sizeof(sock), "%s/control.sock", daemon_.rt);
		unlink(sock);
	}
	RUN(test_no_daemon_exits_3_with_a_clear_message);
	RUN(test_no_page_at_all_is_unreachable);
	RUN(test_a_page_without_the_header_is_named_not_read_after_unmap);
	RUN(test_runtime_dir_errors_say_which);
	td_start_argv(&daemon_, NULL);
	RUN(test_trigger_and_status);
	RUN(test_status_names_the_daemon_and_the_last_raise);
	RUN(test_json_anywhere_pretty_and_errors);
	RUN(test_write_error_on_stdout_is_a_failure);
	RUN(test_runtime_dir_before_and_after_the_subcommand);
	RUN(test_outdated_and_wait_watchers);
	RUN(test_wait_watchers_timeout_0_checks_once);
	RUN(test_wait_watchers_without_timeout_waits_until_acknowledged);
	RUN(test_watchers_lists_every_watcher_outdated_first);
	RUN(test_metrics_prometheus_and_json);
	RUN(test_watch_prints_and_acknowledges);
	RUN(test_quiesce_and_resume);
	RUN(test_unprivileged_control_exits_4);
	RUN(test_status_page_owned_but_socket_gone);
	RUN(test_watch_exits_6_when_the_daemon_dies);
	RUN(test_status_of_a_killed_daemon_is_stale);
	RUN(test_wait_watchers_timeout_names_the_outdated_pids);
	RUN(test_wait_watchers_refused_for_own_watcher_says_so);
	RUN(test_quiesce_at_generation_0);
	RUN(test_status_of_an_older_daemon);
	RUN(test_watchers_and_metrics_of_an_older_daemon);
	td_cleanup(&daemon_);
	return 0;
}
