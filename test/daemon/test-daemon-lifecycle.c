/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RUNNING is published only once everything is up, and cleared on every way out
 * (docs/daemon.md, "Start-up" and "Signals and exit status"): a start that fails after
 * it took over a killed daemon's page (its socket cannot be bound, an explicit notifier
 * path is missing, the state file cannot be written) leaves the page saying that no
 * daemon runs, with a new epoch, instead of RUNNING with a dead pid; SIGTERM, SIGINT and
 * SIGQUIT are clean stops (exit 0); SIGHUP is logged and changes nothing; SIGUSR1 and
 * the other signals that end a process clear the page before they do. And a storm of
 * short connections over several idle sweeps is served without one reset: a client
 * accepted in the same tick of the event loop as an idle sweep is not dropped as idle.
 * Usage: test-daemon-lifecycle SNAPSAFED
 */
#include <pthread.h>

#include "daemon-util.h"

enum {
	STORM_MS	= 6000,	/* six idle sweeps (one a second) */
	STORM_THREADS	= 2,
	STORM_BURST	= 200,	/* connections a thread opens before it reads their replies */
	STORM_MIN	= 1000,	/* connections the storm must have made, at the least */
};

static const char *snapsafed;

static uint32_t page_epoch(const struct snapsafe_page *pg)
{
	return (uint32_t)(snapsafe_page_gen_epoch(pg) >> 32);
}

static uint32_t page_generation(const struct snapsafe_page *pg)
{
	return (uint32_t)snapsafe_page_gen_epoch(pg);
}

/* The page of a daemon that runs (or ran until a SIGKILL): RUNNING, its pid, live bits. */
static void assert_page_running(const struct snapsafe_page *pg, pid_t pid)
{
	uint32_t flags = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED);

	if (!(flags & SNAPSAFE_PAGE_RUNNING))
		test_fail("the page does not say RUNNING (flags 0x%x)", flags);
	assert_eq(__atomic_load_n(&pg->daemon_pid, __ATOMIC_RELAXED), pid);
	assert_true(__atomic_load_n(&pg->live_notifiers, __ATOMIC_RELAXED) &
		    (1ull << SNAPSAFE_NOTIFIER_CONTROL));
}

/*
 * Start and wait for a reply: the socket accepts (into its backlog) before the daemon
 * publishes RUNNING; an answer comes from the event loop, which runs only after it.
 */
static void start_running(struct td *t)
{
	td_start_argv(t, NULL);
	assert_eq(td_status(t).version, PROTOCOL_VERSION);
}

/* Start, raise once, then SIGKILL: the page keeps RUNNING with the dead pid. */
static uint32_t start_and_kill(struct td *t, const struct snapsafe_page **pg)
{
	uint32_t gen;
	pid_t pid;
	int status;

	start_running(t);
	if (!*pg)
		*pg = td_map_page(t);
	gen = td_status(t).generation;
	assert_eq(td_u64(t, "TRIGGER"), gen + 1);
	pid = t->pid;
	status = td_stop_signal(t, SIGKILL);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_page_running(*pg, pid);
	return page_epoch(*pg);
}

TEST(test_failed_start_after_a_killed_daemon_clears_running)
{
	const struct snapsafe_page *pg = NULL;
	char file[400], missing[400];
	uint32_t epoch, gen;
	int fd;
	struct td t;

	td_init(&t, snapsafed);

	/* The socket path is a directory with something in it: neither removed nor bound. */
	epoch = start_and_kill(&t, &pg);
	gen = page_generation(pg);
	assert_eq(unlink(t.sock), 0);
	assert_eq(mkdir(t.sock, 0755), 0);
	snprintf(file, sizeof(file), "%s/keep", t.sock);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	td_assert_exit(&t, td_start_fails_argv(&t, NULL), 1);
	assert_true(td_log_count(&t, "Cannot bind") == 1);
	td_assert_page_stopped(pg, epoch);
	assert_eq(page_generation(pg), gen);
	assert_eq(unlink(file), 0);
	assert_eq(rmdir(t.sock), 0);

	/* An explicitly named notifier source is missing: exit 2, after the take-over. */
	epoch = start_and_kill(&t, &pg);
	gen = page_generation(pg);
	snprintf(missing, sizeof(missing), "%s/missing-kmsg", t.dir);
	td_assert_exit(&t, td_start_fails(&t, "--kmsg-path", missing), 2);
	td_assert_page_stopped(pg, epoch);
	assert_eq(page_generation(pg), gen);

	/* And the next good start takes the page over, not below what it said. */
	start_running(&t);
	assert_page_running(pg, t.pid);
	assert_eq(td_status(&t).generation, gen);
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_finish(&t);
}

/*
 * Run snapsafed on @t's directory with RLIMIT_FSIZE 0, so that every write to a file
 * fails (EFBIG, and SIGXFSZ). Its stderr goes through a pipe, which the limit does not
 * cover, into @t->log. Return: its wait status.
 */
static int run_without_file_writes(struct td *t)
{
	const char *argv[] = {
		t->binary, "--runtime-dir", t->rt, "--kmsg-path", t->kmsg, "--no-uevent",
		"--verbose", NULL,
	};
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;
	int p[2], status, fd;
	char buf[4096];
	pid_t pid;

	assert_eq(pipe2(p, O_CLOEXEC), 0);
	unlink(t->sock);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit none = { 0, 0 };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		signal(SIGXFSZ, SIG_DFL);
		if (setrlimit(RLIMIT_FSIZE, &none) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
			_exit(126);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(p[1]);
	fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int64_t left = (int64_t)deadline - (int64_t)td_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_fail("snapsafed without file writes did not exit within %d ms (see %s)",
				  TD_WAIT_MS, t->log);
		}
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write(fd, buf, (size_t)n) != n)
			test_fail("write %s: %s", t->log, strerror(errno));
	}
	close(fd);
	close(p[0]);
	/* Its stderr is closed: it has exited (or is exiting). */
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (td_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_fail("snapsafed closed its stderr but did not exit");
		}
		td_sleep_ms(5);
	}
	return status;
}

/* A small text file, NUL-terminated; it must exist and not be empty. */
static void read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (n <= 0)
		test_fail("read %s: %s", path, n < 0 ? strerror(errno) : "empty");
	buf[n] = '\0';
	close(fd);
}

/*
 * The take-over must write the state file; when it cannot (here: RLIMIT_FSIZE 0, so the
 * write raises SIGXFSZ, a signal that ends the process), the daemon does not run on, and
 * the page its killed predecessor left RUNNING says that no daemon runs.
 */
TEST(test_state_file_that_cannot_be_written_at_start_leaves_no_running)
{
	const struct snapsafe_page *pg = NULL;
	char state[400], before[256], after[256], desc[96];
	uint32_t epoch, gen;
	int status;
	struct td t;

	td_init(&t, snapsafed);
	epoch = start_and_kill(&t, &pg);
	gen = page_generation(pg);
	snprintf(state, sizeof(state), "%s/state", t.rt);
	read_text(state, before, sizeof(before));

	status = run_without_file_writes(&t);
	fprintf(stderr, "snapsafed with RLIMIT_FSIZE 0: %s\n",
		td_describe_status(status, desc, sizeof(desc)));
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ) &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 1))
		test_fail("snapsafed that cannot write its state file: %s, expected SIGXFSZ or "
			  "exit 1 (see %s)", desc, t.log);
	td_assert_page_stopped(pg, epoch);
	assert_eq(page_generation(pg), gen);
	/* The state file is what it was: the failed write did not touch it. */
	read_text(state, after, sizeof(after));
	if (strcmp(before, after) != 0)
		test_fail("the state file changed from '%s' to '%s'", before, after);

	/* With the limit gone the same directory starts, from the same generation. */
	start_running(&t);
	assert_page_running(pg, t.pid);
	assert_eq(td_status(&t).generation, gen);
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_finish(&t);
}

/*
 * Start on @t's directory, send @sig, reap: whatever the signal does to the daemon, the
 * page then says that no daemon runs. Return: the wait status.
 */
static int stop_with(struct td *t, const struct snapsafe_page **pg, int sig)
{
	uint32_t epoch;
	int status;

	fprintf(stderr, "%s\n", strsignal(sig));
	start_running(t);
	if (!*pg)
		*pg = td_map_page(t);
	assert_page_running(*pg, t->pid);
	epoch = page_epoch(*pg);
	status = td_stop_signal(t, sig);
	td_assert_page_stopped(*pg, epoch);
	return status;
}

TEST(test_sigterm_sigint_sigquit_stop_cleanly)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT };
	const struct snapsafe_page *pg = NULL;
	struct td t;

	td_init(&t, snapsafed);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		td_assert_exit(&t, stop_with(&t, &pg, sigs[i]), 0);
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_cleanup(&t);
}

TEST(test_sighup_is_logged_and_changes_nothing)
{
	const struct snapsafe_page *pg;
	struct protocol_status st;
	uint32_t epoch;
	unsigned before;
	struct td t;

	td_init(&t, snapsafed);
	start_running(&t);
	pg = td_map_page(&t);
	st = td_status(&t);
	epoch = page_epoch(pg);
	before = td_log_count(&t, "SIGHUP: nothing to reload");
	for (int i = 0; i < 3; i++) {
		assert_eq(kill(t.pid, SIGHUP), 0);
		td_wait_log(&t, "SIGHUP: nothing to reload", before + (unsigned)i);
	}
	assert_true(td_alive(&t));
	assert_page_running(pg, t.pid);
	assert_eq(page_epoch(pg), epoch);
	assert_eq(td_status(&t).generation, st.generation);
	assert_eq(td_status(&t).epoch, st.epoch);
	assert_eq(td_u64(&t, "TRIGGER"), st.generation + 1);
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_finish(&t);
}

/* A signal that ends the process still ends it, but the page is cleared first. */
TEST(test_fatal_signals_clear_the_page_before_they_end_the_daemon)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2, SIGALRM };
	const struct snapsafe_page *pg = NULL;
	struct td t;

	td_init(&t, snapsafed);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		int status = stop_with(&t, &pg, sigs[i]);
		char desc[96];

		if (!WIFSIGNALED(status) || WTERMSIG(status) != sigs[i])
			test_fail("snapsafed on %s: %s, expected to be ended by it", strsignal(sigs[i]),
				  td_describe_status(status, desc, sizeof(desc)));
	}
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_cleanup(&t);
}

struct storm {
	const struct td *t;
	uint64_t until;
	unsigned served, failed;
};

static pthread_mutex_t storm_lock = PTHREAD_MUTEX_INITIALIZER;
static char storm_error[512];

static void storm_fail(struct storm *s, const char *fmt, ...)
{
	va_list ap;

	s->failed++;
	pthread_mutex_lock(&storm_lock);
	if (!storm_error[0]) {
		va_start(ap, fmt);
		vsnprintf(storm_error, sizeof(storm_error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&storm_lock);
}

/* One line from @fd within TD_WAIT_MS. Return: 0, or a negative errno (-ECONNRESET: EOF). */
static int read_reply(int fd, char *buf, size_t size)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)deadline - (int64_t)td_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = read(fd, buf + have, size - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		have += (size_t)n;
		buf[have] = '\0';
		if (memchr(buf, '\n', have) || have + 1 >= size)
			return 0;
	}
}

static void *storm_run(void *arg)
{
	struct storm *s = arg;
	int fds[STORM_BURST];

	while (td_now_ms() < s->until) {
		/* A burst: many connections wait in the backlog, so one tick accepts many. */
		for (int i = 0; i < STORM_BURST; i++) {
			fds[i] = td_connect_once(s->t->sock);
			if (fds[i] < 0)
				storm_fail(s, "connect: %s", strerror(errno));
			else if (send(fds[i], "STATUS\n", 7, MSG_NOSIGNAL) != 7)
				storm_fail(s, "send: %s", strerror(errno));
		}
		for (int i = 0; i < STORM_BURST; i++) {
			char reply[1024];
			int r;

			if (fds[i] < 0)
				continue;
			r = read_reply(fds[i], reply, sizeof(reply));
			if (r < 0)
				storm_fail(s, "no reply to STATUS: %s", strerror(-r));
			else if (strncmp(reply, "OK version=", 11) != 0)
				storm_fail(s, "STATUS: got '%.*s'", (int)strcspn(reply, "\n"), reply);
			else
				s->served++;
			close(fds[i]);
		}
	}
	return NULL;
}

/*
 * Connect, ask, close, as fast as two threads can, in bursts, across six idle sweeps:
 * every connection gets its answer. (A sweep that compared "now" from before an accept with
 * the accept's own later time dropped the new client as idle since forever.)
 */
TEST(test_connect_storm_across_idle_sweeps_is_served_completely)
{
	struct storm s[STORM_THREADS];
	pthread_t th[STORM_THREADS];
	unsigned served = 0, failed = 0;
	uint64_t start;
	struct td t;

	td_init(&t, snapsafed);
	td_start_argv(&t, NULL);
	start = td_now_ms();
	for (int i = 0; i < STORM_THREADS; i++) {
		s[i] = (struct storm) { .t = &t, .until = start + STORM_MS };
		assert_eq(pthread_create(&th[i], NULL, storm_run, &s[i]), 0);
	}
	for (int i = 0; i < STORM_THREADS; i++) {
		pthread_join(th[i], NULL);
		served += s[i].served;
		failed += s[i].failed;
	}
	fprintf(stderr, "%u connections in %llu ms, %u not served\n", served + failed,
		(unsigned long long)(td_now_ms() - start), failed);
	if (failed)
		test_fail("%u of %u connections were not served; the first: %s", failed,
			  served + failed, storm_error);
	if (served < STORM_MIN)
		test_fail("only %u connections in %d ms: too few to cross the sweeps", served,
			  STORM_MS);
	assert_true(td_alive(&t));
	assert_eq(td_status(&t).watchers, 0);
	td_finish(&t);
}

int main(int argc, char **argv)
{
	struct rlimit nocore = { 0, 0 }, rl;

	if (argc < 2)
		test_fail("usage: %s SNAPSAFED [SNAPSAFECTL]", argv[0]);
	snapsafed = argv[1];
	/* SIGQUIT, SIGXFSZ and the like dump core by default: not here. */
	setrlimit(RLIMIT_CORE, &nocore);
	/* The storm holds STORM_THREADS * STORM_BURST connections at once. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	RUN(test_failed_start_after_a_killed_daemon_clears_running);
	RUN(test_state_file_that_cannot_be_written_at_start_leaves_no_running);
	RUN(test_sigterm_sigint_sigquit_stop_cleanly);
	RUN(test_sighup_is_logged_and_changes_nothing);
	RUN(test_fatal_signals_clear_the_page_before_they_end_the_daemon);
	RUN(test_connect_storm_across_idle_sweeps_is_served_completely);
	return 0;
}
