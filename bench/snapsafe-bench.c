/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-bench: snapsafe against every other way a Linux program gets random
 * bytes, in one run, with the RNG's speed targets checked on the spot.
 *
 * The parent only orchestrates: it re-executes itself once per implementation
 * (the library reads SNAPSAFE_ENGINE once per process, and a child per
 * implementation also keeps OpenSSL's and libsodium's state out of the others),
 * collects the children's records through a pipe, and prints the tables, the
 * ratios and the target checks, or the same as JSON. Then, when the daemon is
 * built and we are root, it starts snapsafed on a temporary runtime directory and
 * measures the generation check on the RNG hot path and the time for 1000
 * watchers to learn of a trigger.
 *
 * Any part that cannot run here is reported as n/a with the reason; nothing in
 * the output is ever a guess. See docs/benchmarks.md for how to read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include <snapsafe/snapsafe.h>

#include "bench.h"
#include "aes256ctr.h"
#include "chacha20.h"

enum { MAX_IMPLS = 16 };

struct cell {
	int state;		/* 0 not measured, 1 measured, -1 failed */
	double ns;		/* per call; aggregate over both threads for 2 threads */
	uint64_t iters;
	char why[256];
};

struct impl_result {
	const struct bench_impl *im;
	bool requested;
	char na[256];		/* non-empty: the whole implementation is n/a */
	char chacha[32];
	long generation;	/* snapsafe_generation() in the child, -1 unknown */
	struct cell c[BENCH_THREADS + 1][BENCH_ROWS];
};

struct target {
	const char *name;
	const char *alt;	/* compared implementation, NULL for the thread scaling */
	int row;
	double want;
	double ratio;		/* NAN when it could not be measured */
	char note[160];
};

enum { GENCHECK_CASES = 4 };

struct gencheck {
	bool ran;
	char skip[256];
	char page[256];			/* what the page said */
	/* [no page, page, auto+page, page+VMClock][u32, 32 B]; NAN unmeasured */
	double ns[GENCHECK_CASES][2];
	char why[GENCHECK_CASES][300];
};

enum { WATCH_MAX_ROUNDS = 32 };

struct watchers {
	bool ran;
	char skip[256];
	unsigned count, threads, rounds;
	double trigger_ns[WATCH_MAX_ROUNDS], first_ns[WATCH_MAX_ROUNDS];
	double median_ns[WATCH_MAX_ROUNDS], last_ns[WATCH_MAX_ROUNDS];
};

static struct {
	bool json, quick;
	int daemon_parts;	/* -1 default (full run only), 0 off, 1 on */
	const char *daemon_path;
	unsigned rows;
	unsigned watchers;
	unsigned passes;
	struct bench_timing timing;
	int child_timeout_s;
} opt = {
	.daemon_parts = -1,
	.rows = (1u << BENCH_ROWS) - 1,
	.watchers = 1000,
	.passes = 1,
};

static struct impl_result results[MAX_IMPLS];
static struct target targets[] = {
	{ "u32: snapsafe-always >= 4x the vDSO getrandom", "vdso", BENCH_ROW_U32, 4.0, NAN, "" },
	{ "32 B: snapsafe-always >= 8x the vDSO getrandom", "vdso", 3, 8.0, NAN, "" },
	{ "4 KiB: snapsafe-always >= 1.2x OpenSSL RAND_bytes", "openssl", 6, 1.2, NAN, "" },
	{ "1 MiB: snapsafe-always >= 0.9x OpenSSL RAND_bytes", "openssl", 8, 0.9, NAN, "" },
	{ "2 threads >= 1.9x one thread (snapsafe-always)", NULL, -1, 1.9, NAN, "" },
};
static struct gencheck gencheck;
static struct watchers watch;

/* ---- Children ------------------------------------------------------------ */

int bench_run_child(const char *const *argv, const struct child_env *env, int timeout_s,
		    child_line_fn *cb, void *userdata, char *ret_status, size_t status_size)
{
	const char *args[64];
	char fdbuf[16], line[4096];
	size_t argc = 0, used = 0;
	int p[2], status, fd;
	int64_t deadline;
	pid_t pid;

	ret_status[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(ret_status, status_size, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(ret_status, status_size, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* dup() clears O_CLOEXEC: this one descriptor survives the exec. */
		fd = dup(p[1]);
		if (fd < 0)
			_exit(127);
		snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
		args[argc++] = "snapsafe-bench";
		for (size_t i = 0; argv[i] && argc < 60; i++)
			args[argc++] = argv[i];
		args[argc++] = "--result-fd";
		args[argc++] = fdbuf;
		args[argc] = NULL;
		if (env->engine)
			setenv("SNAPSAFE_ENGINE", env->engine, 1);
		else
			unsetenv("SNAPSAFE_ENGINE");
		if (env->runtime_dir)
			setenv("SNAPSAFE_RUNTIME_DIR", env->runtime_dir, 1);
		if (env->vmclock_path)
			setenv("SNAPSAFE_VMCLOCK_PATH", env->vmclock_path, 1);
		execv("/proc/self/exe", (char *const *)args);
		_exit(127);
	}
	close(p[1]);

	deadline = bench_now_ns() + (int64_t)timeout_s * 1000000000;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int64_t left = (deadline - bench_now_ns()) / 1000000;
		ssize_t n;
		char *nl;
		int r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			snprintf(ret_status, status_size, "timed out after %d s", timeout_s);
			break;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		n = read(p[0], line + used, sizeof(line) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		line[used] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			cb(line, userdata);
			used -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, used + 1);
		}
		if (used == sizeof(line) - 1)
			used = 0;	/* an absurd line: drop it rather than stall */
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret_status[0])
		return -1;
	if (WIFSIGNALED(status)) {
		snprintf(ret_status, status_size, "child killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -1;
	}
	if (WEXITSTATUS(status) == 127) {
		snprintf(ret_status, status_size, "could not re-execute the benchmark");
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(ret_status, status_size, "child exited with status %d",
			 WEXITSTATUS(status));
		return -1;
	}
	return 0;
}

/* Splits @line at tabs into at most @max fields; the last one keeps its tabs. */
static int split_fields(char *line, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = line;
		if (n == max)
			break;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static void impl_line(char *line, void *userdata)
{
	struct impl_result *res = userdata;
	char *f[6];
	int n = split_fields(line, f, 6);

	if (strcmp(f[0], "na") == 0 && n >= 2) {
		snprintf(res->na, sizeof(res->na), "%s", f[1]);
	} else if (strcmp(f[0], "info") == 0 && n >= 3) {
		if (strcmp(f[1], "chacha20") == 0)
			snprintf(res->chacha, sizeof(res->chacha), "%s", f[2]);
		else if (strcmp(f[1], "generation") == 0)
			res->generation = strtol(f[2], NULL, 10);
	} else if ((strcmp(f[0], "ok") == 0 && n >= 5) || (strcmp(f[0], "fail") == 0 && n >= 4)) {
		int row = atoi(f[1]), th = atoi(f[2]);
		struct cell *c;

		if (row < 0 || row >= BENCH_ROWS || th < 1 || th > BENCH_THREADS)
			return;
		c = &res->c[th][row];
		if (f[0][0] == 'o') {
			c->state = 1;
			c->ns = strtod(f[3], NULL);
			c->iters = strtoull(f[4], NULL, 10);
		} else {
			c->state = -1;
			snprintf(c->why, sizeof(c->why), "%s", f[3]);
		}
	}
}

static void masks_to_args(unsigned rows, unsigned threads, char *rbuf, char *tbuf, size_t size)
{
	snprintf(rbuf, size, "%u", rows);
	snprintf(tbuf, size, "%u", threads);
}

/* Measure @im in a child with @env; fills @res. */
static void run_impl(const struct bench_impl *im, const struct child_env *env, unsigned rows,
		     unsigned threads, struct impl_result *res)
{
	char rbuf[16], tbuf[16], ms[32], reps[16], status[200];
	const char *argv[16];
	int a = 0;

	memset(res, 0, sizeof(*res));
	res->im = im;
	res->requested = true;
	res->generation = -1;
	masks_to_args(rows, threads, rbuf, tbuf, sizeof(rbuf));
	snprintf(ms, sizeof(ms), "%g", opt.timing.run_ms);
	snprintf(reps, sizeof(reps), "%u", opt.timing.reps);
	argv[a++] = "--child";
	argv[a++] = im->name;
	argv[a++] = "--rows";
	argv[a++] = rbuf;
	argv[a++] = "--threads-mask";
	argv[a++] = tbuf;
	argv[a++] = "--run-ms";
	argv[a++] = ms;
	argv[a++] = "--reps";
	argv[a++] = reps;
	argv[a] = NULL;

	if (bench_run_child(argv, env, opt.child_timeout_s, impl_line, res, status,
			    sizeof(status)) == 0 || res->na[0])
		return;
	/* The child died: every cell it did not report carries the reason. */
	for (int th = 1; th <= BENCH_THREADS; th++)
		for (int row = 0; row < BENCH_ROWS; row++) {
			struct cell *c = &res->c[th][row];

			if (c->state == 0 && (rows & (1u << row)) && (threads & (1u << th))) {
				c->state = -1;
				snprintf(c->why, sizeof(c->why), "%s", status);
			}
		}
}

/*
 * Keep the fastest median of each cell over the passes: a pass that shared the
 * CPUs with something else is slower, never faster, than the undisturbed one.
 */
static void merge_pass(struct impl_result *into, const struct impl_result *r)
{
	if (r->na[0] || into->na[0])
		return;
	for (int th = 1; th <= BENCH_THREADS; th++)
		for (int row = 0; row < BENCH_ROWS; row++) {
			struct cell *a = &into->c[th][row];
			const struct cell *b = &r->c[th][row];

			if (b->state == 1 && (a->state != 1 || b->ns < a->ns))
				*a = *b;
		}
}

/* ---- Derived figures ----------------------------------------------------- */

static struct impl_result *result_of(const char *name)
{
	for (size_t i = 0; i < bench_impls_count; i++)
		if (results[i].requested && strcmp(results[i].im->name, name) == 0)
			return &results[i];
	return NULL;
}

static double cell_ns(const struct impl_result *r, int th, int row)
{
	if (!r || r->na[0] || r->c[th][row].state != 1)
		return NAN;
	return r->c[th][row].ns;
}

/* How many times faster snapsafe-always is than @alt (alt ns / snapsafe ns). */
static double speedup(const char *alt, int th, int row)
{
	return cell_ns(result_of(alt), th, row) / cell_ns(result_of("snapsafe-always"), th, row);
}

/* Aggregate 2-thread throughput over 1-thread throughput. */
static double scaling(const struct impl_result *r, int row)
{
	return cell_ns(r, 1, row) / cell_ns(r, 2, row);
}

static void compute_targets(void)
{
	const struct impl_result *ss = result_of("snapsafe-always");

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct target *t = &targets[i];

		if (t->alt) {
			const struct impl_result *a = result_of(t->alt);

			t->ratio = speedup(t->alt, 1, t->row);
			if (!isnan(t->ratio))
				continue;
			if (!ss || !a || !(opt.rows & (1u << t->row)))
				snprintf(t->note, sizeof(t->note), "not measured in this run");
			else if (ss->na[0] || a->na[0])
				snprintf(t->note, sizeof(t->note), "%s n/a",
					 ss->na[0] ? "snapsafe-always" : t->alt);
			else
				snprintf(t->note, sizeof(t->note), "a cell failed (see notes)");
			continue;
		}
		/* Thread scaling: the median over the rows, and the worst row named. */
		double v[BENCH_ROWS], worst = INFINITY;
		int n = 0, worst_row = -1;

		for (int row = 0; row < BENCH_ROWS; row++) {
			double s = scaling(ss, row);

			if (isnan(s))
				continue;
			v[n++] = s;
			if (s < worst) {
				worst = s;
				worst_row = row;
			}
		}
		t->ratio = n ? bench_median(v, (size_t)n) : NAN;
		if (n)
			snprintf(t->note, sizeof(t->note), "median of %d rows; lowest %.2fx at %s",
				 n, worst, bench_row_label[worst_row]);
	}
}

/* ---- Environment --------------------------------------------------------- */

struct environment {
	char kernel[160], cpu[128], libsnapsafe[256], chacha[32], aes[32];
	long cpus;
	bool avx512;
};

static void read_environment(struct environment *e)
{
	struct utsname u;
	Dl_info info;
	FILE *f;
	char line[512];

	memset(e, 0, sizeof(*e));
	if (uname(&u) == 0)
		snprintf(e->kernel, sizeof(e->kernel), "%s %s", u.release, u.machine);
	e->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	f = fopen("/proc/cpuinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!e->cpu[0] && strncmp(line, "model name", 10) == 0)
			snprintf(e->cpu, sizeof(e->cpu), "%.*s", (int)strcspn(colon + 2, "\n"),
				 colon + 2);
		if (strncmp(line, "flags", 5) == 0 && strstr(colon, " avx512f"))
			e->avx512 = true;
	}
	if (f)
		fclose(f);
	/* Which libsnapsafe the children call: the shared library, as users do. */
	if (dladdr((void *)snapsafe_random_u32, &info) && info.dli_fname)
		snprintf(e->libsnapsafe, sizeof(e->libsnapsafe), "%s", info.dli_fname);
	snprintf(e->chacha, sizeof(e->chacha), "%s", chacha20_best_name());
	snprintf(e->aes, sizeof(e->aes), "%s", aes256ctr_best_name());
}

/* ---- Text output --------------------------------------------------------- */

enum { COLW = 11 };

static void fmt_ns(char *b, size_t size, double ns)
{
	if (isnan(ns))
		snprintf(b, size, "n/a");
	else if (ns < 10)
		snprintf(b, size, "%.2f", ns);
	else if (ns < 1000)
		snprintf(b, size, "%.1f", ns);
	else
		snprintf(b, size, "%.0f", ns);
}

static void fmt_mbs(char *b, size_t size, double mbs)
{
	if (isnan(mbs))
		snprintf(b, size, "n/a");
	else if (mbs < 100)
		snprintf(b, size, "%.1f", mbs);
	else
		snprintf(b, size, "%.0f", mbs);
}

static void fmt_ratio(char *b, size_t size, double r)
{
	if (isnan(r))
		snprintf(b, size, "n/a");
	else if (r < 10)
		snprintf(b, size, "%.2fx", r);
	else
		snprintf(b, size, "%.1fx", r);
}

static void print_header_row(bool skip_always)
{
	printf("%-8s", "size");
	for (size_t i = 0; i < bench_impls_count; i++)
		if (results[i].requested && !(skip_always && i == 0))
			printf("%*s", COLW, bench_impls[i].column);
	printf("\n");
}

enum table_kind { TABLE_NS, TABLE_MBS, TABLE_SCALING, TABLE_SPEEDUP };

static void print_table(const char *title, enum table_kind kind, int th)
{
	bool skip_always = kind == TABLE_SPEEDUP;

	printf("\n%s\n", title);
	print_header_row(skip_always);
	for (int row = 0; row < BENCH_ROWS; row++) {
		if (!(opt.rows & (1u << row)))
			continue;
		printf("%-8s", bench_row_label[row]);
		for (size_t i = 0; i < bench_impls_count; i++) {
			const struct impl_result *r = &results[i];
			double ns = cell_ns(r, th, row);
			char b[32];

			if (!r->requested || (skip_always && i == 0))
				continue;
			switch (kind) {
			case TABLE_NS:
				fmt_ns(b, sizeof(b), ns);
				break;
			case TABLE_MBS:
				fmt_mbs(b, sizeof(b), (double)bench_row_bytes[row] * 1e3 / ns);
				break;
			case TABLE_SCALING:
				fmt_ratio(b, sizeof(b), scaling(r, row));
				break;
			case TABLE_SPEEDUP:
				fmt_ratio(b, sizeof(b), speedup(r->im->name, th, row));
				break;
			}
			printf("%*s", COLW, b);
		}
		printf("\n");
	}
}

static void print_text(const struct environment *e)
{
	char a[32], b[32];

	printf("snapsafe-bench %s%s\n", SNAPSAFE_BENCH_VERSION, opt.quick ? " (--quick: "
	       "short runs, figures are rough)" : "");
	printf("  kernel %s; %ld CPUs: %s%s\n", e->kernel, e->cpus, e->cpu,
	       e->avx512 ? " (AVX-512)" : "");
	printf("  glibc %s; %s; libsodium %s\n", gnu_get_libc_version(),
	       OpenSSL_version(OPENSSL_VERSION), sodium_version_string());
	printf("  libsnapsafe: %s; ChaCha20: %s; bulk AES-256-CTR: %s\n",
	       e->libsnapsafe[0] ? e->libsnapsafe : "?", e->chacha, e->aes);
	printf("  timing: CLOCK_MONOTONIC; per cell the median of %u runs of ~%g ms, iterations "
	       "calibrated per cell;\n  each implementation in its own process; 1 MB/s = 10^6 "
	       "bytes/s; 2 threads: aggregate over both\n", opt.timing.reps, opt.timing.run_ms);

	print_table("ns per call, 1 thread (lower is better)", TABLE_NS, 1);
	print_table("MB/s, 1 thread", TABLE_MBS, 1);
	print_table("ns per call, 2 threads (aggregate: wall time / calls of both threads)",
		    TABLE_NS, 2);
	print_table("MB/s, 2 threads (aggregate)", TABLE_MBS, 2);
	print_table("thread scaling: 2-thread aggregate throughput / 1-thread throughput",
		    TABLE_SCALING, 2);
	print_table("snapsafe-always speedup over each (its ns / snapsafe-always ns), 1 thread",
		    TABLE_SPEEDUP, 1);
	print_table("snapsafe-always speedup over each, 2 threads", TABLE_SPEEDUP, 2);

	printf("\nthe RNG's speed targets (measured in this run)\n");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct target *t = &targets[i];

		fmt_ratio(a, sizeof(a), t->ratio);
		printf("  %-52s %8s  %s", t->name, a,
		       isnan(t->ratio) ? "not measured" : t->ratio >= t->want ? "met" : "NOT MET");
		if (!isnan(t->ratio) && t->ratio < t->want)
			printf(" (%.0f%% short)", (1.0 - t->ratio / t->want) * 100);
		if (t->note[0])
			printf("  [%s]", t->note);
		printf("\n");
	}

	printf("\nnotes\n");
	for (size_t i = 0; i < bench_impls_count; i++) {
		const struct impl_result *r = &results[i];

		if (!r->requested)
			continue;
		if (r->na[0]) {
			printf("  %-16s n/a: %s\n", r->im->name, r->na);
			continue;
		}
		printf("  %-16s u32 row calls %s", r->im->name, r->im->u32_call);
		if (r->im->engine)
			printf("; SNAPSAFE_ENGINE=%s; generation %ld%s", r->im->engine,
			       r->generation, r->generation == 0 ? " (no daemon page)" : "");
		printf("\n");
		for (int th = 1; th <= BENCH_THREADS; th++)
			for (int row = 0; row < BENCH_ROWS; row++)
				if (r->c[th][row].state == -1)
					printf("  %-16s %s, %d thread%s: n/a: %s\n", "",
					       bench_row_label[row], th, th > 1 ? "s" : "",
					       r->c[th][row].why);
	}

	printf("\nthe daemon's generation-check cost on the hot path: snapsafe_random_u32, "
	       "1 thread\n");
	if (!gencheck.ran) {
		printf("  skipped: %s\n", gencheck.skip);
	} else {
		static const char *const what[GENCHECK_CASES] = {
			"always, no daemon page", "always, daemon page mapped",
			"auto, daemon page mapped", "always, page + VMClock",
		};

		printf("  page: %s\n", gencheck.page);
		printf("  %-28s %12s %12s\n", "", "u32 ns/call", "32 B ns/call");
		for (int i = 0; i < GENCHECK_CASES; i++) {
			fmt_ns(a, sizeof(a), gencheck.ns[i][0]);
			fmt_ns(b, sizeof(b), gencheck.ns[i][1]);
			printf("  %-28s %12s %12s%s%s\n", what[i], a, b,
			       gencheck.why[i][0] ? "  n/a: " : "", gencheck.why[i]);
		}
		printf("  difference (page - no page): u32 %+.2f ns, 32 B %+.2f ns\n",
		       gencheck.ns[1][0] - gencheck.ns[0][0], gencheck.ns[1][1] - gencheck.ns[0][1]);
		printf("  difference (VMClock's three words, page + VMClock - page): u32 %+.2f ns, "
		       "32 B %+.2f ns\n",
		       gencheck.ns[3][0] - gencheck.ns[1][0], gencheck.ns[3][1] - gencheck.ns[1][1]);
	}

	printf("\nwatchers (the daemon's notification time): snapsafe_trigger() until the last "
	       "watcher has read the new generation\n");
	if (!watch.ran) {
		printf("  skipped: %s\n", watch.skip);
	} else {
		double v[WATCH_MAX_ROUNDS];

		printf("  %u watchers on %u threads polling their fds, %u rounds\n", watch.count,
		       watch.threads, watch.rounds);
		printf("  %-6s %14s %14s %14s %14s\n", "round", "trigger() us", "first us",
		       "median us", "last us");
		for (unsigned i = 0; i < watch.rounds; i++)
			printf("  %-6u %14.1f %14.1f %14.1f %14.1f\n", i + 1,
			       watch.trigger_ns[i] / 1e3, watch.first_ns[i] / 1e3,
			       watch.median_ns[i] / 1e3, watch.last_ns[i] / 1e3);
		memcpy(v, watch.last_ns, sizeof(double) * watch.rounds);
		printf("  trigger to last of %u notified: median %.2f ms over %u rounds\n",
		       watch.count, bench_median(v, watch.rounds) / 1e6, watch.rounds);
	}
}

/* ---- JSON output --------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_num(double v)
{
	if (isnan(v) || isinf(v))
		printf("null");
	else
		printf("%.6g", v);
}

static void json_kv_str(const char *k, const char *v, bool comma)
{
	printf("\"%s\": ", k);
	json_str(v);
	if (comma)
		printf(", ");
}

static void json_kv_num(const char *k, double v, bool comma)
{
	printf("\"%s\": ", k);
	json_num(v);
	if (comma)
		printf(", ");
}

static void print_json(const struct environment *e)
{
	bool first;

	printf("{\n  \"benchmark\": \"snapsafe-bench\", \"version\": ");
	json_str(SNAPSAFE_BENCH_VERSION);
	printf(", \"quick\": %s,\n", opt.quick ? "true" : "false");
	printf("  \"environment\": {");
	json_kv_str("kernel", e->kernel, true);
	json_kv_str("cpu", e->cpu, true);
	json_kv_num("cpus", (double)e->cpus, true);
	printf("\"avx512\": %s, ", e->avx512 ? "true" : "false");
	json_kv_str("glibc", gnu_get_libc_version(), true);
	json_kv_str("openssl", OpenSSL_version(OPENSSL_VERSION), true);
	json_kv_str("libsodium", sodium_version_string(), true);
	json_kv_str("libsnapsafe", e->libsnapsafe, true);
	json_kv_str("chacha20", e->chacha, true);
	json_kv_str("aes256ctr", e->aes, false);
	printf("},\n  \"method\": {\"clock\": \"CLOCK_MONOTONIC\", \"statistic\": \"median\", ");
	json_kv_num("runs_per_cell", opt.timing.reps, true);
	json_kv_num("run_ms", opt.timing.run_ms, true);
	printf("\"mb\": 1000000},\n");

	printf("  \"implementations\": [");
	first = true;
	for (size_t i = 0; i < bench_impls_count; i++) {
		const struct impl_result *r = &results[i];

		if (!r->requested)
			continue;
		printf("%s\n    {", first ? "" : ",");
		first = false;
		json_kv_str("name", r->im->name, true);
		printf("\"available\": %s, ", r->na[0] ? "false" : "true");
		if (r->na[0])
			json_kv_str("reason", r->na, true);
		if (r->im->engine) {
			json_kv_str("snapsafe_engine", r->im->engine, true);
			json_kv_num("generation", (double)r->generation, true);
		}
		json_kv_str("u32_call", r->im->u32_call, false);
		printf("}");
	}
	printf("\n  ],\n  \"results\": [");
	first = true;
	for (size_t i = 0; i < bench_impls_count; i++) {
		const struct impl_result *r = &results[i];

		if (!r->requested)
			continue;
		for (int th = 1; th <= BENCH_THREADS; th++)
			for (int row = 0; row < BENCH_ROWS; row++) {
				const struct cell *c = &r->c[th][row];
				double ns = cell_ns(r, th, row);

				if (!(opt.rows & (1u << row)))
					continue;
				printf("%s\n    {", first ? "" : ",");
				first = false;
				json_kv_str("impl", r->im->name, true);
				json_kv_num("threads", th, true);
				json_kv_str("size", bench_row_key[row], true);
				json_kv_num("bytes_per_call", (double)bench_row_bytes[row], true);
				json_kv_num("ns_per_call", ns, true);
				json_kv_num("mb_per_s", (double)bench_row_bytes[row] * 1e3 / ns,
					    true);
				if (th == 2)
					json_kv_num("scaling_vs_1_thread", scaling(r, row), true);
				if (i != 0)
					json_kv_num("snapsafe_always_speedup",
						    speedup(r->im->name, th, row), true);
				if (isnan(ns))
					json_kv_str("error", r->na[0] ? r->na : c->why[0] ?
						    c->why : "not measured", true);
				json_kv_num("iterations", (double)c->iters, false);
				printf("}");
			}
	}
	printf("\n  ],\n  \"targets\": [");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct target *t = &targets[i];

		printf("%s\n    {", i ? "," : "");
		json_kv_str("name", t->name, true);
		json_kv_num("want", t->want, true);
		json_kv_num("ratio", t->ratio, true);
		if (t->note[0])
			json_kv_str("note", t->note, true);
		printf("\"met\": %s}", isnan(t->ratio) ? "null" :
		       t->ratio >= t->want ? "true" : "false");
	}
	printf("\n  ],\n  \"generation_check\": {");
	if (!gencheck.ran) {
		json_kv_str("skipped", gencheck.skip, false);
	} else {
		static const char *const keys[GENCHECK_CASES] = {
			"always_no_page", "always_page", "auto_page", "always_page_vmclock",
		};

		json_kv_str("page", gencheck.page, true);
		for (int i = 0; i < GENCHECK_CASES; i++) {
			printf("\"%s\": {", keys[i]);
			json_kv_num("u32_ns", gencheck.ns[i][0], true);
			json_kv_num("32_ns", gencheck.ns[i][1], gencheck.why[i][0]);
			if (gencheck.why[i][0])
				json_kv_str("error", gencheck.why[i], false);
			printf("}, ");
		}
		json_kv_num("u32_difference_ns", gencheck.ns[1][0] - gencheck.ns[0][0], true);
		json_kv_num("32_difference_ns", gencheck.ns[1][1] - gencheck.ns[0][1], true);
		json_kv_num("vmclock_u32_difference_ns", gencheck.ns[3][0] - gencheck.ns[1][0], true);
		json_kv_num("vmclock_32_difference_ns", gencheck.ns[3][1] - gencheck.ns[1][1], false);
	}
	printf("},\n  \"watchers\": {");
	if (!watch.ran) {
		json_kv_str("skipped", watch.skip, false);
	} else {
		double v[WATCH_MAX_ROUNDS];

		json_kv_num("count", watch.count, true);
		json_kv_num("threads", watch.threads, true);
		printf("\"rounds\": [");
		for (unsigned i = 0; i < watch.rounds; i++) {
			printf("%s{", i ? ", " : "");
			json_kv_num("trigger_ns", watch.trigger_ns[i], true);
			json_kv_num("first_ns", watch.first_ns[i], true);
			json_kv_num("median_ns", watch.median_ns[i], true);
			json_kv_num("last_ns", watch.last_ns[i], false);
			printf("}");
		}
		memcpy(v, watch.last_ns, sizeof(double) * watch.rounds);
		printf("], ");
		json_kv_num("last_median_ns", bench_median(v, watch.rounds), false);
	}
	printf("}\n}\n");
}

/* ---- The daemon-backed parts: generation check, watchers --------------- */

/*
 * A VMClock page as QEMU offers it (flags 0: the disruption marker alone), in @dir; the
 * library maps it read-only like the device and checks its words on every request.
 */
static int vmclock_fake(const char *dir, char *path, size_t size)
{
	uint8_t page[4096] = { 0 };
	uint32_t magic = 0x4b4c4356, len = 112;	/* "VCLK", the structure's size */
	uint16_t version = 1;
	int fd, r;

	snprintf(path, size, "%s/vmclock", dir);
	memcpy(page + 0, &magic, 4);
	memcpy(page + 4, &len, 4);
	memcpy(page + 8, &version, 2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	r = write(fd, page, sizeof(page)) == (ssize_t)sizeof(page) ? 0 : -1;
	close(fd);
	return r;
}

static void run_gencheck(const struct bench_daemon *d)
{
	char nopage[] = "/tmp/snapsafe-bench-nopage.XXXXXX";
	char vmclock[300], novmclock[300];
	const struct bench_impl *always = bench_impl_find("snapsafe-always");
	const struct bench_impl *autom = bench_impl_find("snapsafe-auto");
	unsigned rows = 1u << BENCH_ROW_U32 | 1u << 3;

	for (int i = 0; i < GENCHECK_CASES; i++)
		gencheck.ns[i][0] = gencheck.ns[i][1] = NAN;
	if (!mkdtemp(nopage) || vmclock_fake(nopage, vmclock, sizeof(vmclock)) < 0) {
		snprintf(gencheck.skip, sizeof(gencheck.skip), "%s: %s", nopage, strerror(errno));
		return;
	}
	/* The other cases never see a VMClock, not even the machine's own device. */
	snprintf(novmclock, sizeof(novmclock), "%s/no-vmclock", nopage);
	gencheck.ran = true;
	bench_page_describe(d->dir, gencheck.page, sizeof(gencheck.page));
	/* Alternate the two cases twice and keep the best of each against drift. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < GENCHECK_CASES; i++) {
			struct child_env env = {
				.engine = i == 2 ? "auto" : "always",
				.runtime_dir = i == 0 ? nopage : d->dir,
				.vmclock_path = i == 3 ? vmclock : novmclock,
			};
			struct impl_result r;

			if (i == 2 && pass == 1)
				continue;
			run_impl(i == 2 ? autom : always, &env, rows, 1u << 1, &r);
			for (int k = 0; k < 2; k++) {
				int row = k ? 3 : BENCH_ROW_U32;
				double ns = cell_ns(&r, 1, row);

				if (isnan(ns)) {
					snprintf(gencheck.why[i], sizeof(gencheck.why[i]), "%s",
						 r.na[0] ? r.na : r.c[1][row].why);
					continue;
				}
				if (isnan(gencheck.ns[i][k]) || ns < gencheck.ns[i][k])
					gencheck.ns[i][k] = ns;
			}
		}
	unlink(vmclock);
	rmdir(nopage);
}

static void watch_line(char *line, void *userdata)
{
	char *f[6];
	int n = split_fields(line, f, 6);

	(void)userdata;
	if (strcmp(f[0], "wround") == 0 && n >= 6 && watch.rounds < WATCH_MAX_ROUNDS) {
		unsigned i = watch.rounds++;

		watch.trigger_ns[i] = strtod(f[2], NULL);
		watch.first_ns[i] = strtod(f[3], NULL);
		watch.median_ns[i] = strtod(f[4], NULL);
		watch.last_ns[i] = strtod(f[5], NULL);
	} else if (strcmp(f[0], "wfail") == 0 && n >= 2) {
		snprintf(watch.skip, sizeof(watch.skip), "%s", f[1]);
	} else if (strcmp(f[0], "winfo") == 0 && n >= 3) {
		if (strcmp(f[1], "threads") == 0)
			watch.threads = (unsigned)atoi(f[2]);
	}
}

static void run_watchers(const struct bench_daemon *d)
{
	char count[16], rounds[16], status[200];
	const char *argv[8] = { "--watchers-child", "--watchers-count", count, "--rounds",
				rounds, NULL };
	struct child_env env = { .engine = NULL, .runtime_dir = d->dir };

	snprintf(count, sizeof(count), "%u", opt.watchers);
	snprintf(rounds, sizeof(rounds), "%u", opt.quick ? 2 : 7);
	watch.count = opt.watchers;
	if (bench_run_child(argv, &env, opt.quick ? 30 : 120, watch_line, NULL, status,
			    sizeof(status)) < 0 && !watch.skip[0])
		snprintf(watch.skip, sizeof(watch.skip), "%s", status);
	if (watch.rounds > 0 && !watch.skip[0])
		watch.ran = true;
	else if (!watch.skip[0])
		snprintf(watch.skip, sizeof(watch.skip), "the watcher child reported nothing");
}

static void run_daemon_parts(void)
{
	struct bench_daemon d;
	char path[PATH_MAX], why[256];

	if (bench_daemon_find(opt.daemon_path, path, sizeof(path), why, sizeof(why)) < 0) {
		snprintf(gencheck.skip, sizeof(gencheck.skip), "%s", why);
		snprintf(watch.skip, sizeof(watch.skip), "%s", why);
		return;
	}
	if (bench_daemon_start(path, &d, why, sizeof(why)) < 0) {
		snprintf(gencheck.skip, sizeof(gencheck.skip), "%s", why);
		snprintf(watch.skip, sizeof(watch.skip), "%s", why);
		return;
	}
	run_gencheck(&d);
	if (geteuid() != 0)
		snprintf(watch.skip, sizeof(watch.skip), "not root: snapsafe_trigger() needs root "
			 "or CAP_CHECKPOINT_RESTORE");
	else
		run_watchers(&d);
	bench_daemon_stop(&d);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snapsafe-bench [--json] [--quick] [--watchers | --no-daemon]\n"
		"                      [--impl NAME,...] [--sizes u32,4,...] [--run-ms MS] [--reps N]\n"
		"                      [--passes N] [--daemon PATH] [--watchers-count N]\n"
		"  --json            print the results as JSON instead of tables\n"
		"  --quick           short runs (a CI smoke run, under 20 s); no daemon parts\n"
		"  --watchers        run the daemon parts (generation check, watchers) also with --quick\n"
		"  --no-daemon       skip the daemon parts\n"
		"  --impl LIST       measure only these (snapsafe-always is always measured)\n"
		"  --sizes LIST      only these rows: u32 and byte counts of 4 ... 1048576\n"
		"  --run-ms MS       target duration of one timed run (default 40, --quick 2)\n"
		"  --reps N          timed runs per cell, median kept (default 5, --quick 3)\n"
		"  --passes N        measure everything N times, keep each cell's best median\n"
		"  --daemon PATH     the snapsafed binary (default: found in the build tree)\n"
		"  --watchers-count  how many watchers (default 1000)\n");
}

static unsigned parse_list_rows(const char *s)
{
	char buf[256], *save = NULL;
	unsigned mask = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int row = bench_row_parse(t);

		if (row < 0) {
			fprintf(stderr, "snapsafe-bench: unknown size %s\n", t);
			exit(2);
		}
		mask |= 1u << row;
	}
	return mask;
}

static void select_impls(const char *list)
{
	char buf[512], *save = NULL;

	for (size_t i = 0; i < bench_impls_count; i++)
		results[i].requested = i == 0 || !list;
	if (!list)
		return;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const struct bench_impl *im = bench_impl_find(t);

		if (!im) {
			fprintf(stderr, "snapsafe-bench: unknown implementation %s\n", t);
			exit(2);
		}
		results[im - bench_impls].requested = true;
	}
}

int main(int argc, char **argv)
{
	enum { O_CHILD = 256, O_RESULT_FD, O_ROWS, O_THREADS_MASK, O_RUN_MS, O_REPS, O_IMPL,
	       O_SIZES, O_DAEMON, O_WATCHERS, O_NO_DAEMON, O_WATCHERS_CHILD, O_WATCHERS_COUNT,
	       O_ROUNDS, O_PASSES };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "impl", required_argument, NULL, O_IMPL },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "run-ms", required_argument, NULL, O_RUN_MS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "daemon", required_argument, NULL, O_DAEMON },
		{ "watchers", no_argument, NULL, O_WATCHERS },
		{ "no-daemon", no_argument, NULL, O_NO_DAEMON },
		{ "watchers-count", required_argument, NULL, O_WATCHERS_COUNT },
		{ "passes", required_argument, NULL, O_PASSES },
		/* Internal: how the parent runs its children. */
		{ "child", required_argument, NULL, O_CHILD },
		{ "watchers-child", no_argument, NULL, O_WATCHERS_CHILD },
		{ "result-fd", required_argument, NULL, O_RESULT_FD },
		{ "rows", required_argument, NULL, O_ROWS },
		{ "threads-mask", required_argument, NULL, O_THREADS_MASK },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{}
	};
	const char *child = NULL, *impls = NULL;
	bool watchers_child = false;
	unsigned threads_mask = 1u << 1 | 1u << 2, rounds = 7;
	double run_ms = 0;
	unsigned reps = 0;
	int result_fd = -1, c;
	struct environment env;

	while ((c = getopt_long(argc, argv, "jqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opt.json = true;
			break;
		case 'q':
			opt.quick = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_IMPL:
			impls = optarg;
			break;
		case O_SIZES:
			opt.rows = parse_list_rows(optarg);
			break;
		case O_RUN_MS:
			run_ms = strtod(optarg, NULL);
			break;
		case O_REPS:
			reps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_DAEMON:
			opt.daemon_path = optarg;
			break;
		case O_WATCHERS:
			opt.daemon_parts = 1;
			break;
		case O_NO_DAEMON:
			opt.daemon_parts = 0;
			break;
		case O_WATCHERS_COUNT:
			opt.watchers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_PASSES:
			opt.passes = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.passes < 1 || opt.passes > 10) {
				fprintf(stderr, "snapsafe-bench: --passes takes 1 to 10\n");
				return 2;
			}
			break;
		case O_CHILD:
			child = optarg;
			break;
		case O_WATCHERS_CHILD:
			watchers_child = true;
			break;
		case O_RESULT_FD:
			result_fd = atoi(optarg);
			break;
		case O_ROWS:
			opt.rows = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_THREADS_MASK:
			threads_mask = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_ROUNDS:
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	opt.timing.run_ms = run_ms > 0 ? run_ms : opt.quick ? 2 : 40;
	opt.timing.reps = reps > 0 ? reps : opt.quick ? 3 : 5;
	if (opt.timing.reps > 64)
		opt.timing.reps = 64;
	opt.child_timeout_s = opt.quick ? 30 : 600;

	if (child || watchers_child) {
		FILE *out = result_fd >= 0 ? fdopen(result_fd, "w") : stdout;

		if (!out)
			return 1;
		if (watchers_child)
			return bench_watchers_child_main(out, opt.watchers, 4, rounds);
		return bench_child_main(child, out, opt.rows, threads_mask, &opt.timing);
	}

	signal(SIGPIPE, SIG_IGN);
	select_impls(impls);
	read_environment(&env);
	if (!opt.json)
		fprintf(stderr, "snapsafe-bench: measuring %zu implementations, ~%.0f s ...\n",
			bench_impls_count, opt.quick ? 3.0 : 60.0);
	for (unsigned pass = 0; pass < opt.passes; pass++)
		for (size_t i = 0; i < bench_impls_count; i++) {
			struct child_env cenv = { .engine = bench_impls[i].engine };
			struct impl_result r;

			if (!results[i].requested)
				continue;
			run_impl(&bench_impls[i], &cenv, opt.rows, 1u << 1 | 1u << 2,
				 pass ? &r : &results[i]);
			if (pass)
				merge_pass(&results[i], &r);
		}
	compute_targets();

	if (opt.daemon_parts == 1 || (opt.daemon_parts == -1 && !opt.quick)) {
		run_daemon_parts();
	} else {
		snprintf(gencheck.skip, sizeof(gencheck.skip), "%s", opt.quick ?
			 "not with --quick (add --watchers)" : "--no-daemon");
		snprintf(watch.skip, sizeof(watch.skip), "%s", gencheck.skip);
	}

	if (opt.json)
		print_json(&env);
	else
		print_text(&env);
	return 0;
}
