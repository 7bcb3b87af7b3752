/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one helper for every test that runs the real snapsafed (test/daemon, test/client,
 * test/cli): a fresh temporary runtime directory, exported as $SNAPSAFE_RUNTIME_DIR so
 * that the library and snapsafectl find it; the daemon started on it with test inputs
 * (a kmsg file, a fake VMClock page path, no uevents), killed (SIGTERM or SIGKILL) and
 * restarted on the same directory; a line-by-line connection to its socket; cleanup.
 * Header only; every wait is bounded so that a broken daemon fails a test instead of
 * hanging it.
 */
#ifndef SNAPSAFE_TEST_DAEMON_UTIL_H
#define SNAPSAFE_TEST_DAEMON_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "page.h"
#include "protocol.h"
#include "test.h"

enum {
	TD_WAIT_MS = 10000,	/* the longest any single step may take before we call it a hang */
};

struct td {
	char binary[4096];
	char dir[256];
	char rt[300];
	char sock[320];
	char kmsg[320];
	char vmclock[320];
	char sysgenid[320];
	char compat[320];
	char log[320];
	bool uevent_auto;	/* leave the uevent notifier at its default, not --no-uevent */
	unsigned nofile;	/* non-zero: the daemon's RLIMIT_NOFILE, soft and hard */
	const char *const *wrapper;	/* NULL, or a command (and options) to run it under */
	pid_t pid;
};

static inline void td_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline uint64_t td_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * td_init() - a fresh directory, exported as $SNAPSAFE_RUNTIME_DIR.
 * @binary: the snapsafed under test (argv[1]), or NULL for the one in the build tree
 * ($SNAPSAFE_BUILD_ROOT, set by meson's test environment).
 */
static inline void td_init(struct td *t, const char *binary)
{
	const char *tmp = getenv("TMPDIR");

	memset(t, 0, sizeof(*t));
	if (binary) {
		snprintf(t->binary, sizeof(t->binary), "%s", binary);
	} else {
		const char *root = getenv("SNAPSAFE_BUILD_ROOT");

		if (!root)
			test_fail("SNAPSAFE_BUILD_ROOT is not set: run this test through meson test");
		snprintf(t->binary, sizeof(t->binary), "%s/src/daemon/snapsafed", root);
	}
	if (access(t->binary, X_OK) < 0)
		test_fail("%s: %s", t->binary, strerror(errno));
	snprintf(t->dir, sizeof(t->dir), "%s/snapsafed-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir))
		test_fail("mkdtemp: %s", strerror(errno));
	chmod(t->dir, 0755);
	snprintf(t->rt, sizeof(t->rt), "%s/rt", t->dir);
	snprintf(t->sock, sizeof(t->sock), "%s/rt/control.sock", t->dir);
	snprintf(t->kmsg, sizeof(t->kmsg), "%s/kmsg", t->dir);
	snprintf(t->vmclock, sizeof(t->vmclock), "%s/vmclock", t->dir);
	snprintf(t->sysgenid, sizeof(t->sysgenid), "%s/sysgenid", t->dir);
	snprintf(t->compat, sizeof(t->compat), "%s/compat", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/log", t->dir);
	if (setenv("SNAPSAFE_RUNTIME_DIR", t->rt, 1) < 0)
		test_fail("setenv: %s", strerror(errno));
	/* A test must not die of SIGPIPE where it means to check for EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* An empty kernel log by default: the tests append records to it. */
	close(open(t->kmsg, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	t->pid = -1;
}

static inline void td_sockaddr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n >= sizeof(sa->sun_path))
		test_fail("socket path too long: %s", path);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
}

static inline int td_connect_once(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		test_fail("socket: %s", strerror(errno));
	td_sockaddr(&sa, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* td_exec() - fork and exec snapsafed with the test inputs and @extra; its pid. */
static inline pid_t td_exec(const struct td *t, const char *const *extra)
{
	const char *argv[64];
	size_t n = 0;
	pid_t pid;

	for (const char *const *w = t->wrapper; w && *w && n < 16; w++)
		argv[n++] = *w;
	argv[n++] = t->binary;
	argv[n++] = "--runtime-dir";
	argv[n++] = t->rt;
	argv[n++] = "--kmsg-path";
	argv[n++] = t->kmsg;
	/* An explicit path must work: name the fake devices only once the test made them. */
	if (access(t->vmclock, F_OK) == 0) {
		argv[n++] = "--vmclock-path";
		argv[n++] = t->vmclock;
	}
	if (access(t->sysgenid, F_OK) == 0) {
		argv[n++] = "--sysgenid-path";
		argv[n++] = t->sysgenid;
	}
	if (!t->uevent_auto)
		argv[n++] = "--no-uevent";
	argv[n++] = "--verbose";
	for (; extra && *extra && n < 62; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		/* A test that dies must not leave its daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		signal(SIGPIPE, SIG_DFL);	/* the daemon sets up its own */
		if (t->nofile) {
			struct rlimit rl = { .rlim_cur = t->nofile, .rlim_max = t->nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(126);
		}
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

/*
 * td_start() - run snapsafed with the test inputs and @extra (NULL-terminated) and
 * wait until it answers a request. Its socket takes connections (into the backlog)
 * before the page says RUNNING; it answers only from its event loop, which starts once
 * everything is up and published, so "answers" means ready.
 */
static inline void td_start_argv(struct td *t, const char *const *extra)
{
	uint64_t deadline;

	unlink(t->sock);
	t->pid = td_exec(t, extra);
	deadline = td_now_ms() + TD_WAIT_MS;
	for (;;) {
		int status, fd = td_connect_once(t->sock);

		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int64_t left = (int64_t)deadline - (int64_t)td_now_ms();
			char c;

			if (send(fd, "STATUS\n", 7, MSG_NOSIGNAL) == 7 &&
			    poll(&p, 1, left > 0 ? (int)left : 0) == 1 && read(fd, &c, 1) == 1) {
				close(fd);
				return;
			}
			close(fd);
		}
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = -1;
			test_fail("snapsafed exited during start (status 0x%x); see %s", status, t->log);
		}
		if (td_now_ms() > deadline)
			test_fail("snapsafed did not answer on %s in time", t->sock);
		td_sleep_ms(10);
	}
}

/* td_start(t, "--opt", "value") with at least one extra argument; else td_start_argv(t, NULL). */
#define td_start(t, ...) td_start_argv((t), (const char *const[]){ __VA_ARGS__, NULL })

/* td_stop() - SIGTERM (clean exit) or SIGKILL, and reap. Returns the exit status. */
static inline int td_stop_signal(struct td *t, int sig)
{
	int status = 0;
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	if (t->pid <= 0)
		return 0;
	kill(t->pid, sig);
	for (;;) {
		pid_t r = waitpid(t->pid, &status, WNOHANG);

		if (r == t->pid)
			break;
		if (td_now_ms() > deadline) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, &status, 0);
			test_fail("snapsafed did not exit on signal %d", sig);
		}
		td_sleep_ms(5);
	}
	t->pid = -1;
	return status;
}

/* td_alive() - the daemon still runs (not exited, not killed by a signal). */
static inline bool td_alive(struct td *t)
{
	int status;

	if (t->pid <= 0)
		return false;
	if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
		fprintf(stderr, "snapsafed exited: status 0x%x\n", status);
		t->pid = -1;
		return false;
	}
	return true;
}

/* td_log_count() - how many lines of the daemon's log contain @needle. */
static inline unsigned td_log_count(const struct td *t, const char *needle)
{
	char line[4096];
	unsigned n = 0;
	FILE *f = fopen(t->log, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/*
 * td_wait_log() - wait until more than @before lines contain @needle (proof that the
 * daemon saw an input); fails at once if the daemon died instead.
 */
static inline void td_wait_log(struct td *t, const char *needle, unsigned before)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	while (td_log_count(t, needle) <= before) {
		if (!td_alive(t))
			test_fail("snapsafed died before it logged '%s' (see %s)", needle, t->log);
		if (td_now_ms() > deadline)
			test_fail("snapsafed never logged '%s' (see %s)", needle, t->log);
		td_sleep_ms(10);
	}
}

static inline int td_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static inline void td_cleanup(struct td *t)
{
	if (t->pid > 0)
		td_stop_signal(t, SIGTERM);
	if (t->dir[0] && !getenv("SNAPSAFE_TEST_KEEP"))
		nftw(t->dir, td_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* td_finish() - a clean exit on SIGTERM (status 0), then cleanup: main()'s return value. */
static inline int td_finish(struct td *t)
{
	int status = td_stop_signal(t, SIGTERM);

	if (status != 0)
		test_fail("snapsafed exited with status 0x%x on SIGTERM (see %s)", status, t->log);
	td_cleanup(t);
	return 0;
}

/*
 * td_write_state() - before a start: the runtime directory with a state file holding
 * @text (e.g. "generation=4294967294\n"), as a daemon that ran before would leave it.
 */
static inline void td_write_state(const struct td *t, const char *text)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/state", t->rt);
	if (mkdir(t->rt, 0755) < 0 && errno != EEXIST)
		test_fail("mkdir %s: %s", t->rt, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		test_fail("write %s: %s", path, strerror(errno));
	close(fd);
}

static inline void td_append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		test_fail("append to %s: %s", path, strerror(errno));
	close(fd);
}

/* A connection with its own line buffer. */
struct tconn {
	int fd;
	pid_t peer_pid;		/* the process that connected */
	char buf[16384];
	size_t len;
};

static inline void tconn_open(struct tconn *c, const struct td *t)
{
	c->len = 0;
	c->peer_pid = getpid();
	c->fd = td_connect_once(t->sock);
	if (c->fd < 0)
		test_fail("connect %s: %s", t->sock, strerror(errno));
}

/*
 * tconn_open_foreign() - a connection whose peer pid (SO_PEERCRED, taken at connect
 * time) is a short-lived child, not us: the daemon treats it as another process's
 * connection, which the WAIT "same pid" rule needs.
 */
static inline void tconn_open_foreign(struct tconn *c, const struct td *t)
{
	struct sockaddr_un sa;
	int status;
	pid_t pid;

	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		test_fail("socket: %s", strerror(errno));
	td_sockaddr(&sa, t->sock);
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? 1 : 0);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail("connect in child failed");
	c->peer_pid = pid;
}

static inline void tconn_close(struct tconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static inline void tconn_send_raw(struct tconn *c, const void *data, size_t len)
{
	if (send(c->fd, data, len, MSG_NOSIGNAL) != (ssize_t)len)
		test_fail("send: %s", strerror(errno));
}

static inline void tconn_send(struct tconn *c, const char *line)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);

	tconn_send_raw(c, buf, (size_t)n);
}

/*
 * tconn_line() - the next line (without '\n') within @timeout_ms.
 * Return: its length, -ETIMEDOUT, or -ECONNRESET at EOF.
 */
static inline int tconn_line_timeout(struct tconn *c, char *out, size_t size, int timeout_ms)
{
	uint64_t deadline = td_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left;
		ssize_t n;
		int r;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			if (l >= size)
				test_fail("line too long for the test buffer");
			memcpy(out, c->buf, l);
			out[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return (int)l;
		}
		/* One poll even when the time is up, so that 0 means "only what is there". */
		left = (int64_t)deadline - (int64_t)td_now_ms();
		r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
}

static inline void tconn_line(struct tconn *c, char *out, size_t size)
{
	int r = tconn_line_timeout(c, out, size, TD_WAIT_MS);

	if (r < 0)
		test_fail("no line from snapsafed: %s", strerror(-r));
}

/* tconn_reply() - the next reply line, skipping GEN events (as a client must). */
static inline void tconn_reply(struct tconn *c, char *out, size_t size)
{
	for (;;) {
		tconn_line(c, out, size);
		if (strncmp(out, "GEN ", 4) != 0)
			return;
	}
}

static inline void tconn_request(struct tconn *c, const char *req, char *out, size_t size)
{
	tconn_send(c, req);
	tconn_reply(c, out, size);
}

/* tconn_expect() - send @req and assert the reply is exactly @want. */
#define tconn_expect(c, req, want) do {						\
		char _b[1024];							\
		tconn_request((c), (req), _b, sizeof(_b));			\
		if (strcmp(_b, (want)) != 0)					\
			test_fail("%s: got '%s', expected '%s'", (req), _b, (want)); \
	} while (0)

/* tconn_expect_prefix() - the reply starts with @want ("ERR EACCES"). */
#define tconn_expect_prefix(c, req, want) do {					\
		char _b[1024];							\
		tconn_request((c), (req), _b, sizeof(_b));			\
		if (strncmp(_b, (want), strlen(want)) != 0)			\
			test_fail("%s: got '%s', expected '%s...'", (req), _b, (want)); \
	} while (0)

/* tconn_expect_one() - on a fresh connection, send @req and require exactly @want. */
#define tconn_expect_one(t, req, want) do {					\
		struct tconn _c;						\
		tconn_open(&_c, (t));						\
		tconn_expect(&_c, (req), (want));				\
		tconn_close(&_c);						\
	} while (0)

/* tconn_u64_reply() - the next reply, which must be "OK <n>"; returns n. */
static inline uint64_t tconn_u64_reply(struct tconn *c)
{
	struct protocol_line l;
	char b[1024];

	tconn_reply(c, b, sizeof(b));
	if (protocol_line_parse(b, strlen(b), &l) < 0 || l.kind != PROTOCOL_LINE_OK || !l.has_value)
		test_fail("got '%s', expected OK <number>", b);
	return l.value;
}

/* tconn_u64() - send @req, require "OK <n>", return n. */
static inline uint64_t tconn_u64(struct tconn *c, const char *req)
{
	tconn_send(c, req);
	return tconn_u64_reply(c);
}

static inline struct protocol_status tconn_status(struct tconn *c)
{
	struct protocol_status st;
	char b[1024];

	tconn_request(c, "STATUS", b, sizeof(b));
	if (strncmp(b, "OK ", 3) != 0 || protocol_status_parse(b + 3, strlen(b) - 3, &st) < 0)
		test_fail("STATUS: got '%s'", b);
	return st;
}

/* One-shot request on a fresh connection. */
static inline uint64_t td_u64(const struct td *t, const char *req)
{
	struct tconn c;
	uint64_t v;

	tconn_open(&c, t);
	v = tconn_u64(&c, req);
	tconn_close(&c);
	return v;
}

static inline struct protocol_status td_status(const struct td *t)
{
	struct tconn c;
	struct protocol_status st;

	tconn_open(&c, t);
	st = tconn_status(&c);
	tconn_close(&c);
	return st;
}

/* td_wait_generation() - poll STATUS until the generation is at least @gen. */
static inline uint32_t td_wait_generation(const struct td *t, uint32_t gen)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;

	for (;;) {
		struct protocol_status st = td_status(t);

		if (st.generation >= gen)
			return st.generation;
		if (td_now_ms() > deadline)
			test_fail("generation stayed at %u, expected >= %u", st.generation, gen);
		td_sleep_ms(20);
	}
}

/* Map the page read-only, as a client does. */
static inline const struct snapsafe_page *td_map_page(const struct td *t)
{
	char path[400];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/generation", t->rt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("open %s: %s", path, strerror(errno));
	p = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		test_fail("mmap page: %s", strerror(errno));
	return p;
}

/* td_describe_status() - a wait status in words ("exit 1", "killed by signal 9"). */
static inline const char *td_describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "wait status 0x%x", status);
	return buf;
}

/* td_assert_exit() - @status (a wait status) is a normal exit with @code. */
#define td_assert_exit(t, status, code) do {					\
		char _d[96];							\
		int _s = (status);						\
		if (!WIFEXITED(_s) || WEXITSTATUS(_s) != (code))		\
			test_fail("snapsafed: %s, expected exit %d (see %s)",	\
				  td_describe_status(_s, _d, sizeof(_d)), (code), (t)->log); \
	} while (0)

/*
 * td_start_fails() - run snapsafed with the test inputs and @extra where its start must
 * fail, and wait until it exits on its own. Return: its wait status. A daemon that
 * starts instead (its socket accepts) or is still there after TD_WAIT_MS (a hang, such
 * as a blocking read of a FIFO) is killed with SIGKILL and the test fails, saying which.
 */
static inline int td_start_fails_argv(struct td *t, const char *const *extra)
{
	uint64_t deadline;
	int status;
	pid_t pid;

	unlink(t->sock);
	pid = td_exec(t, extra);
	deadline = td_now_ms() + TD_WAIT_MS;
	for (;;) {
		int fd;

		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		fd = td_connect_once(t->sock);
		if (fd >= 0) {
			close(fd);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_fail("snapsafed started where its start must fail (see %s)", t->log);
		}
		if (td_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_fail("snapsafed neither started nor exited within %d ms: it hangs "
				  "(killed with SIGKILL; see %s)", TD_WAIT_MS, t->log);
		}
		td_sleep_ms(5);
	}
}

#define td_start_fails(t, ...) td_start_fails_argv((t), (const char *const[]){ __VA_ARGS__, NULL })

/*
 * td_assert_page_stopped() - the page says that no daemon runs: RUNNING, the pid and the
 * live set cleared, with an epoch word other than @epoch_before (what it was while the
 * last daemon ran), so that seeded libraries look again.
 */
static inline void td_assert_page_stopped(const struct snapsafe_page *pg, uint32_t epoch_before)
{
	uint64_t ge = snapsafe_page_gen_epoch(pg);
	uint32_t flags = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED);
	uint32_t pid = __atomic_load_n(&pg->daemon_pid, __ATOMIC_RELAXED);
	uint64_t live = __atomic_load_n(&pg->live_notifiers, __ATOMIC_RELAXED);

	if (flags & SNAPSAFE_PAGE_RUNNING)
		test_fail("the page still says RUNNING (flags 0x%x, daemon_pid %u, live 0x%llx)",
			  flags, pid, (unsigned long long)live);
	if (pid != 0 || live != 0)
		test_fail("the page says no daemon runs but keeps daemon_pid %u, live 0x%llx", pid,
			  (unsigned long long)live);
	if ((uint32_t)(ge >> 32) == epoch_before)
		test_fail("the page's epoch is still 0x%08x: seeded libraries would not look again",
			  epoch_before);
}

/*
 * td_ctl_as() - run `@ctl --runtime-dir DIR @sub` on @t's daemon through setpriv(1) with
 * @opts (NULL-terminated, e.g. "--reuid=65534"). Return: its exit code; its stdout in @out.
 */
static inline int td_ctl_as(const struct td *t, const char *ctl, const char *const *opts,
			    const char *sub, char *out, size_t size)
{
	const char *argv[32];
	int p[2], status;
	size_t n = 0, have = 0;
	ssize_t r;
	pid_t pid;

	argv[n++] = "setpriv";
	for (; *opts && n < 26; opts++)
		argv[n++] = *opts;
	argv[n++] = ctl;
	argv[n++] = "--runtime-dir";
	argv[n++] = t->rt;
	argv[n++] = sub;
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		test_fail("pipe2: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execvp("setpriv", (char **)argv);
		_exit(127);
	}
	close(p[1]);
	while (have + 1 < size && (r = read(p[0], out + have, size - 1 - have)) > 0)
		have += (size_t)r;
	out[have] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status))
		test_fail("setpriv ... %s: killed by signal %d", sub, WTERMSIG(status));
	if (WEXITSTATUS(status) == 127)
		test_fail("cannot run setpriv");
	return WEXITSTATUS(status);
}

#endif
