/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs the real snapsafed for an integration test: a fresh runtime directory under $TMPDIR,
 * the daemon started on it with --runtime-dir, the library pointed at it through
 * $SNAPSAFE_RUNTIME_DIR, and a wait until its control socket accepts connections. Also
 * kill -9 and restart on the same directory. Header only; shared by test/client and test/cli.
 */
#ifndef SNAPSAFE_TEST_DAEMON_H
#define SNAPSAFE_TEST_DAEMON_H

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

struct test_daemon {
	pid_t pid;
	char dir[256];
	char bin[4096];
};

/* A path in the build tree, from SNAPSAFE_BUILD_ROOT (set by meson's test_env). */
static inline void test_build_path(char *buf, size_t size, const char *rel)
{
	const char *root = getenv("SNAPSAFE_BUILD_ROOT");

	if (!root)
		test_fail("SNAPSAFE_BUILD_ROOT is not set: run this test through meson test");
	snprintf(buf, size, "%s/%s", root, rel);
}

static inline void test_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline bool test_daemon_socket_ready(const struct test_daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", d->dir) >=
	    (int)sizeof(sa.sun_path))
		test_fail("runtime directory %s is too long for a socket path", d->dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		test_fail("socket: %s", strerror(errno));
	r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* Start (or restart) the daemon on d->dir and wait until it accepts connections. */
static inline void test_daemon_spawn(struct test_daemon *d)
{
	int status;

	d->pid = fork();
	if (d->pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (d->pid == 0) {
		/* A test that dies must not leave its daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(d->bin, d->bin, "--runtime-dir", d->dir, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", d->bin, strerror(errno));
		_exit(127);
	}
	/* A bounded wait for readiness: a hang guard, not a timing assertion. */
	for (int i = 0; i < 3000; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			test_fail("snapsafed exited during startup (status 0x%x)", status);
		if (test_daemon_socket_ready(d))
			return;
		test_sleep_ms(10);
	}
	test_fail("snapsafed did not open %s/control.sock within 30 s", d->dir);
}

/*
 * test_daemon_start() - a new runtime directory and a daemon on it; exports
 * SNAPSAFE_RUNTIME_DIR so that the library (and snapsafectl) find it.
 */
static inline void test_daemon_start(struct test_daemon *d)
{
	const char *tmp = getenv("TMPDIR");

	memset(d, 0, sizeof(*d));
	test_build_path(d->bin, sizeof(d->bin), "src/daemon/snapsafed");
	if (access(d->bin, X_OK) < 0)
		/* Only while the daemon is not written yet: see test/client/meson.build. */
		test_skip("%s not built", d->bin);
	snprintf(d->dir, sizeof(d->dir), "%s/snapsafe-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d->dir))
		test_fail("mkdtemp %s: %s", d->dir, strerror(errno));
	if (setenv("SNAPSAFE_RUNTIME_DIR", d->dir, 1) < 0)
		test_fail("setenv: %s", strerror(errno));
	/* A test must not die of SIGPIPE where it means to check for EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	test_daemon_spawn(d);
}

/* test_daemon_kill() - send @sig and reap the daemon; the directory stays. */
static inline void test_daemon_kill(struct test_daemon *d, int sig)
{
	int status;

	if (d->pid <= 0)
		return;
	if (kill(d->pid, sig) < 0)
		test_fail("kill: %s", strerror(errno));
	if (waitpid(d->pid, &status, 0) != d->pid)
		test_fail("waitpid: %s", strerror(errno));
	d->pid = 0;
}

static int test_daemon_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* test_daemon_stop() - stop the daemon and remove its directory. */
static inline void test_daemon_stop(struct test_daemon *d)
{
	test_daemon_kill(d, SIGTERM);
	nftw(d->dir, test_daemon_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
