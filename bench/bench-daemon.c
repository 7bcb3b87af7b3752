/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of the benchmark that need a running snapsafed: starting and stopping
 * one on a temporary runtime directory, describing its generation page, and the
 * watcher child that times how long a trigger takes to reach 1000 watchers.
 *
 * The watcher child runs in its own process (SNAPSAFE_RUNTIME_DIR points at the
 * temporary directory) and writes, per round:
 *   wround	<round>	<trigger ns>	<first ns>	<median ns>	<last ns>
 * where each time is measured from just before snapsafe_trigger() to the moment a
 * watcher's snapsafe_watcher_read() returned the new generation; or "wfail <why>".
 * Acknowledging happens after the clock stops, so it does not slow the fan-out.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <snapsafe/snapsafe.h>

#include "bench.h"
#include "page.h"
#include "runtime-dir.h"

/* ---- The daemon ---------------------------------------------------------- */

static int executable(const char *path, char *buf, size_t size)
{
	if (access(path, X_OK) < 0)
		return -1;
	snprintf(buf, size, "%s", path);
	return 0;
}

int bench_daemon_find(const char *override, char *buf, size_t size, char *why, size_t why_size)
{
	const char *env = getenv("SNAPSAFE_BENCH_DAEMON");
	char self[PATH_MAX], cand[PATH_MAX + 32], *slash;
	ssize_t n;

	if (override) {
		if (executable(override, buf, size) == 0)
			return 0;
		snprintf(why, why_size, "daemon %s: %s", override, strerror(errno));
		return -1;
	}
	if (env && *env) {
		if (executable(env, buf, size) == 0)
			return 0;
		snprintf(why, why_size, "SNAPSAFE_BENCH_DAEMON=%s: %s", env, strerror(errno));
		return -1;
	}
	/* In the build tree this program is bench/snapsafe-bench, the daemon src/daemon/. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(cand, sizeof(cand), "%s/../src/daemon/snapsafed", self);
			if (executable(cand, buf, size) == 0)
				return 0;
		}
	}
	snprintf(why, why_size, "the snapsafed binary was not found (build it, or pass --daemon "
		 "PATH)");
	return -1;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	/* 1000 watchers need 1000 descriptors on each side: take the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int socket_listening(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

static int page_valid(const char *path)
{
	struct snapsafe_page p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, &p, sizeof(p), 0);
	close(fd);
	return n == (ssize_t)sizeof(p) && p.magic == SNAPSAFE_PAGE_MAGIC;
}

/* The last line of the daemon's log, to say why it did not come up. */
static void log_tail(const char *log, char *buf, size_t size)
{
	char line[512];
	FILE *f = fopen(log, "re");

	buf[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		snprintf(buf, size, "%.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_daemon_start(const char *path, struct bench_daemon *d, char *why, size_t why_size)
{
	char sock[PATH_MAX], page[PATH_MAX], tail[400];
	int64_t deadline;
	int status;

	memset(d, 0, sizeof(*d));
	d->pid = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/snapsafe-bench.XXXXXX");
	if (!mkdtemp(d->dir)) {
		snprintf(why, why_size, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (runtime_path(sock, sizeof(sock), d->dir, SNAPSAFE_SOCKET_FILE) < 0 ||
	    runtime_path(page, sizeof(page), d->dir, SNAPSAFE_PAGE_FILE) < 0) {
		snprintf(why, why_size, "runtime directory path too long");
		remove_tree(d->dir);
		return -1;
	}
	raise_fd_limit();
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0) {
		snprintf(why, why_size, "fork: %s", strerror(errno));
		remove_tree(d->dir);
		return -1;
	}
	if (d->pid == 0) {
		int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (log >= 0) {
			dup2(log, STDOUT_FILENO);
			dup2(log, STDERR_FILENO);
		}
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		/* Not under systemd here, whatever our own environment says. */
		unsetenv("NOTIFY_SOCKET");
		execl(path, "snapsafed", "--runtime-dir", d->dir, (char *)NULL);
		_exit(127);
	}

	deadline = bench_now_ns() + 10 * (int64_t)1000000000;
	while (bench_now_ns() < deadline) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			log_tail(d->log, tail, sizeof(tail));
			snprintf(why, why_size, "snapsafed exited at start (%s %d)%s%s",
				 WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				 tail[0] ? ": " : "", tail);
			d->pid = -1;
			remove_tree(d->dir);
			return -1;
		}
		if (page_valid(page) && socket_listening(sock))
			return 0;
		usleep(10000);
	}
	snprintf(why, why_size, "snapsafed did not become ready within 10 s");
	bench_daemon_stop(d);
	return -1;
}

void bench_daemon_stop(struct bench_daemon *d)
{
	int status;

	if (d->pid > 0) {
		int64_t deadline = bench_now_ns() + 5 * (int64_t)1000000000;

		kill(d->pid, SIGTERM);
		while (waitpid(d->pid, &status, WNOHANG) == 0) {
			if (bench_now_ns() > deadline) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
				break;
			}
			usleep(10000);
		}
		d->pid = -1;
	}
	if (d->dir[0])
		remove_tree(d->dir);
	d->dir[0] = '\0';
}

void bench_page_describe(const char *dir, char *buf, size_t size)
{
	static const char *const names[_SNAPSAFE_NOTIFIER_MAX] = {
		[SNAPSAFE_NOTIFIER_CONTROL] = "control",
		[SNAPSAFE_NOTIFIER_TIMER] = "timer",
		[SNAPSAFE_NOTIFIER_VMFORK_KMSG] = "vmfork-kmsg",
		[SNAPSAFE_NOTIFIER_UEVENT] = "uevent",
		[SNAPSAFE_NOTIFIER_VMCLOCK] = "vmclock",
		[SNAPSAFE_NOTIFIER_SYSGENID] = "sysgenid",
		[SNAPSAFE_NOTIFIER_STARTUP] = "startup",
	};
	char path[PATH_MAX], live[200] = "";
	struct snapsafe_page p;
	size_t used = 0;
	int fd;

	if (runtime_path(path, sizeof(path), dir, SNAPSAFE_PAGE_FILE) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(buf, size, "no page");
		return;
	}
	if (pread(fd, &p, sizeof(p), 0) != (ssize_t)sizeof(p) || p.magic != SNAPSAFE_PAGE_MAGIC) {
		close(fd);
		snprintf(buf, size, "invalid page");
		return;
	}
	close(fd);
	for (int i = 1; i < _SNAPSAFE_NOTIFIER_MAX && used < sizeof(live); i++)
		if (p.live_notifiers & (1ull << i))
			used += (size_t)snprintf(live + used, sizeof(live) - used, "%s%s",
						 used ? "," : "", names[i] ? names[i] : "?");
	snprintf(buf, size, "generation %u, flags%s%s, live notifiers: %s%s", p.generation,
		 p.flags & SNAPSAFE_PAGE_RUNNING ? " running" : "",
		 p.flags & SNAPSAFE_PAGE_QUIESCED ? " quiesced" : "", live[0] ? live : "none",
		 p.live_notifiers & SNAPSAFE_NOTIFIERS_COVER_VM ? " (covers VM snapshots)" :
		 " (none covers VM snapshots)");
}

/* ---- The watcher child ----------------------------------------------------- */

struct watch_thread {
	struct snapsafe_watcher **w;
	int64_t *seen_ns;		/* when each watcher read the new generation */
	uint32_t *seen_gen;
	unsigned n;
	uint32_t before;		/* the generation before the trigger */
	pthread_barrier_t *barrier;
	atomic_bool *abort;
	int err;
};

static void *watch_thread_main(void *p)
{
	struct watch_thread *t = p;
	struct pollfd *pfd = calloc(t->n, sizeof(*pfd));
	int64_t deadline;
	unsigned left = t->n;

	if (!pfd)
		t->err = -ENOMEM;
	for (unsigned i = 0; pfd && i < t->n; i++)
		pfd[i] = (struct pollfd){ .fd = snapsafe_watcher_fd(t->w[i]), .events = POLLIN };
	pthread_barrier_wait(t->barrier);
	if (!pfd)
		return NULL;
	deadline = bench_now_ns() + 10 * (int64_t)1000000000;
	while (left > 0 && !t->err) {
		int r = poll(pfd, t->n, 100);

		if (r < 0 && errno != EINTR) {
			t->err = -errno;
			break;
		}
		if (atomic_load(t->abort)) {
			t->err = -ECANCELED;
			break;
		}
		if (bench_now_ns() > deadline) {
			t->err = -ETIMEDOUT;
			break;
		}
		for (unsigned i = 0; r > 0 && i < t->n; i++) {
			uint32_t gen;
			int k;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			k = snapsafe_watcher_read(t->w[i], &gen);
			if (k == -EAGAIN)
				continue;
			if (k < 0) {
				t->err = k;
				break;
			}
			if (gen == t->before)
				continue;
			t->seen_ns[i] = bench_now_ns();
			t->seen_gen[i] = gen;
			/* poll() skips negative descriptors: this watcher is done. */
			pfd[i].fd = -1;
			left--;
		}
	}
	free(pfd);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One trigger; fills the four times. Return 0 or a negative errno. */
static int watch_round(struct snapsafe_watcher **w, unsigned count, unsigned nthreads,
		       double ret[4], char *why, size_t why_size)
{
	struct watch_thread t[16];
	pthread_t tid[16];
	pthread_barrier_t barrier;
	atomic_bool abort_flag = false;
	int64_t *seen_ns = calloc(count, sizeof(*seen_ns));
	uint32_t *seen_gen = calloc(count, sizeof(*seen_gen));
	uint32_t before = snapsafe_generation();
	unsigned per = (count + nthreads - 1) / nthreads, started = 0;
	int64_t t0, t1, gen;
	int r = 0;

	if (!seen_ns || !seen_gen) {
		free(seen_ns);
		free(seen_gen);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	pthread_barrier_init(&barrier, NULL, nthreads + 1);
	for (unsigned i = 0; i < nthreads; i++) {
		unsigned first = i * per, n = first >= count ? 0 : count - first < per ?
			count - first : per;

		t[i] = (struct watch_thread){ .w = w + first, .seen_ns = seen_ns + first,
			.seen_gen = seen_gen + first, .n = n, .before = before,
			.barrier = &barrier, .abort = &abort_flag };
		if (pthread_create(&tid[i], NULL, watch_thread_main, &t[i]) != 0) {
			/* The barrier would never open: give up on this process. */
			fprintf(stderr, "snapsafe-bench: pthread_create failed\n");
			exit(1);
		}
		started++;
	}
	pthread_barrier_wait(&barrier);
	t0 = bench_now_ns();
	gen = snapsafe_trigger(0);
	t1 = bench_now_ns();
	if (gen < 0) {
		atomic_store(&abort_flag, true);
		snprintf(why, why_size, "snapsafe_trigger(): %s", strerror((int)-gen));
		r = (int)gen;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		if (t[i].err < 0 && r == 0) {
			snprintf(why, why_size, "a watcher thread: %s", strerror(-t[i].err));
			r = t[i].err;
		}
	}
	pthread_barrier_destroy(&barrier);
	if (r == 0) {
		/* Acknowledge outside the clock, so the next round starts with none outdated. */
		for (unsigned i = 0; i < count && r == 0; i++) {
			r = snapsafe_watcher_ack(w[i], seen_gen[i]);
			if (r < 0)
				snprintf(why, why_size, "snapsafe_watcher_ack(): %s", strerror(-r));
		}
	}
	if (r == 0) {
		for (unsigned i = 0; i < count; i++)
			seen_ns[i] -= t0;
		qsort(seen_ns, count, sizeof(*seen_ns), cmp_i64);
		ret[0] = (double)(t1 - t0);
		ret[1] = (double)seen_ns[0];
		ret[2] = (double)seen_ns[count / 2];
		ret[3] = (double)seen_ns[count - 1];
	}
	free(seen_ns);
	free(seen_gen);
	return r;
}

int bench_watchers_child_main(FILE *out, unsigned count, unsigned nthreads, unsigned rounds)
{
	struct snapsafe_watcher **w;
	unsigned opened = 0;
	char why[256];
	int r = 0;

	if (count == 0 || nthreads == 0 || nthreads > 16) {
		fprintf(out, "wfail\tbad watcher or thread count\n");
		return 0;
	}
	raise_fd_limit();
	w = calloc(count, sizeof(*w));
	if (!w) {
		fprintf(out, "wfail\tout of memory\n");
		return 0;
	}
	for (; opened < count; opened++) {
		r = snapsafe_watcher_open(SNAPSAFE_WATCHER_NONBLOCK, &w[opened]);
		if (r < 0) {
			fprintf(out, "wfail\tsnapsafe_watcher_open() of watcher %u: %s\n",
				opened + 1, strerror(-r));
			goto out;
		}
	}
	fprintf(out, "winfo\tthreads\t%u\n", nthreads);
	for (unsigned i = 0; i < rounds; i++) {
		double t[4] = { 0 };

		r = watch_round(w, count, nthreads, t, why, sizeof(why));
		if (r < 0) {
			fprintf(out, "wfail\tround %u: %s\n", i + 1, why);
			break;
		}
		fprintf(out, "wround\t%u\t%.0f\t%.0f\t%.0f\t%.0f\n", i, t[0], t[1], t[2], t[3]);
		fflush(out);
	}
out:
	for (unsigned i = 0; i < opened; i++)
		snapsafe_watcher_close(w[i]);
	free(w);
	fflush(out);
	return 0;
}
