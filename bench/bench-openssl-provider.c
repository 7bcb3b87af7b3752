/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-bench-openssl: RAND_bytes() through snapsafe's OpenSSL provider against OpenSSL's
 * default DRBG, in one run (docs/benchmarks.md, docs/openssl-provider.md).
 *
 * Each configuration is measured in a child process of its own, forked before OpenSSL or
 * libsnapsafe is touched, because OpenSSL reads OPENSSL_CONF and libsnapsafe reads
 * SNAPSAFE_ENGINE once per process:
 *   default    OPENSSL_CONF names an empty file: OpenSSL's own CTR-DRBG (AES-256-CTR)
 *   provider   the shipped openssl-snapsafe.cnf, SNAPSAFE_ENGINE=always: libsnapsafe's engine
 *   prov-auto  the same with the default policy: without a snapsafed that sees VM snapshots,
 *              libsnapsafe hands every request to the kernel (the vDSO on Linux 6.11+)
 * Requests of 32 B, 4 KiB and 1 MiB, with 1 and with 2 threads (2: the aggregate, from the
 * first thread's start to the last one's end). Each cell is calibrated to about --run-ms, and
 * the median of --reps runs is kept; --passes N keeps each cell's best median of N passes.
 * It prints ns per call, MB/s, the provider's speedup over the default DRBG, and the targets:
 * at least 5x at 32 B, never slower at 1 MiB (one thread).
 *
 * The configuration and the module are the build tree's, unless SNAPSAFE_BENCH_CONF (a
 * complete configuration), OPENSSL_CONF_INCLUDE and OPENSSL_MODULES say otherwise: run the
 * binary through Debian 13's loader with SNAPSAFE_BENCH_CONF naming openssl-snapsafe-3.5.cnf
 * to measure OpenSSL 3.5's random_provider path.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

enum {
	SIZES = 3,
	IMPLS = 3,
	MAX_THREADS = 2,
};

static const size_t sizes[SIZES] = { 32, 4096, 1048576 };
static const char *const size_label[SIZES] = { "32 B", "4 KiB", "1 MiB" };

struct impl {
	const char *name;
	bool provider;
	const char *engine;
};

static const struct impl impls[IMPLS] = {
	{ "default", false, NULL },
	{ "provider", true, "always" },
	{ "prov-auto", true, "auto" },
};

static double run_ms = 50;
static unsigned reps = 5, passes = 1;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct worker {
	pthread_t thread;
	unsigned char *buf;
	size_t len;
	uint64_t n;
	double start, end;
	int failed;
	pthread_barrier_t *barrier;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->barrier);
	w->start = now_ns();
	for (uint64_t i = 0; i < w->n; i++) {
		if (RAND_bytes(w->buf, (int)w->len) != 1) {
			w->failed = 1;
			break;
		}
		__asm__ volatile("" : : "r"(w->buf) : "memory");
	}
	w->end = now_ns();
	return NULL;
}

/* @n calls of @len bytes on each of @threads threads; ns per call (aggregate), or NAN. */
static double timed_run(unsigned threads, size_t len, uint64_t n, unsigned char **bufs)
{
	struct worker w[MAX_THREADS];
	pthread_barrier_t barrier;
	double start = INFINITY, end = 0;

	pthread_barrier_init(&barrier, NULL, threads);
	for (unsigned t = 0; t < threads; t++) {
		w[t] = (struct worker){ .buf = bufs[t], .len = len, .n = n, .barrier = &barrier };
		if (pthread_create(&w[t].thread, NULL, worker_run, &w[t]) != 0)
			return NAN;
	}
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(w[t].thread, NULL);
		if (w[t].failed)
			return NAN;
		start = fmin(start, w[t].start);
		end = fmax(end, w[t].end);
	}
	pthread_barrier_destroy(&barrier);
	return (end - start) / (double)(n * threads);
}

/* The child: configure, check what serves RAND_bytes, measure, write "size threads ns" lines. */
static int child_main(const struct impl *im, int fd, const char *conf, char *why, size_t size)
{
	static unsigned char bufs[MAX_THREADS][1048576];
	unsigned char *b[MAX_THREADS] = { bufs[0], bufs[1] };
	EVP_RAND_CTX *pub;
	const char *name;
	FILE *out = fdopen(fd, "w");

	if (!out)
		return 1;
	if (im->engine)
		setenv("SNAPSAFE_ENGINE", im->engine, 1);
	setenv("OPENSSL_CONF", conf, 1);
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) || RAND_bytes(b[0], 32) != 1) {
		fprintf(out, "na OpenSSL cannot load %s or RAND_bytes failed\n", conf);
		fclose(out);
		return 1;
	}
	pub = RAND_get0_public(NULL);
	name = pub ? EVP_RAND_get0_name(EVP_RAND_CTX_get0_rand(pub)) : "?";
	if (im->provider != (strcmp(name, "SNAPSAFE") == 0)) {
		fprintf(out, "na the public generator is %s\n", name);
		fclose(out);
		return 1;
	}
	fprintf(out, "info %s %s\n", OpenSSL_version(OPENSSL_VERSION_STRING), name);
	for (size_t s = 0; s < SIZES; s++) {
		for (unsigned threads = 1; threads <= MAX_THREADS; threads++) {
			double v[16], ns;
			uint64_t n = 1;

			/* Calibrate (and warm up: a thread's first call seeds its state). */
			for (;;) {
				ns = timed_run(threads, sizes[s], n, b);
				if (isnan(ns) || ns * (double)n >= run_ms * 1e6 / 4)
					break;
				n *= 4;
			}
			if (!isnan(ns))
				n = (uint64_t)fmax(1, run_ms * 1e6 / ns);
			for (unsigned r = 0; r < reps && !isnan(ns); r++)
				v[r] = ns = timed_run(threads, sizes[s], n, b);
			if (isnan(ns)) {
				fprintf(out, "fail %zu %u\n", sizes[s], threads);
				continue;
			}
			qsort(v, reps, sizeof(v[0]), cmp_double);
			fprintf(out, "ok %zu %u %.2f\n", sizes[s], threads, v[reps / 2]);
		}
	}
	fclose(out);
	return 0;
}

static double results[IMPLS][SIZES][MAX_THREADS + 1];
static char info[IMPLS][128];

static int run_child(size_t i, const char *conf)
{
	int p[2], status;
	char line[256];
	pid_t pid;
	FILE *in;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char why[128];

		close(p[0]);
		_exit(child_main(&impls[i], p[1], conf, why, sizeof(why)));
	}
	close(p[1]);
	in = fdopen(p[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		size_t len;
		unsigned threads;
		double ns;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "ok %zu %u %lf", &len, &threads, &ns) == 3) {
			for (size_t s = 0; s < SIZES; s++)
				if (sizes[s] == len && threads <= MAX_THREADS &&
				    (isnan(results[i][s][threads]) || ns < results[i][s][threads]))
					results[i][s][threads] = ns;
		} else if (strncmp(line, "info ", 5) == 0 || strncmp(line, "na ", 3) == 0) {
			snprintf(info[i], sizeof(info[i]), "%s", line + (line[0] == 'i' ? 5 : 3));
		}
	}
	if (in)
		fclose(in);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: snapsafe-bench-openssl [--quick] [--run-ms MS] [--reps N] "
		"[--passes N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' }, { "run-ms", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' }, { "passes", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *conf = getenv("SNAPSAFE_BENCH_CONF") ?: SNAPSAFE_BENCH_CONF;
	char empty[] = "/tmp/snapsafe-bench-openssl-XXXXXX";
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			run_ms = 5;
			reps = 3;
			break;
		case 'm':
			run_ms = atof(optarg);
			break;
		case 'r':
			reps = (unsigned)atoi(optarg);
			break;
		case 'p':
			passes = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (run_ms <= 0 || reps < 1 || reps > 16 || passes < 1) {
		usage(stderr);
		return 2;
	}
	/* The build tree's module and drop-ins unless the environment names others. */
	setenv("OPENSSL_MODULES", SNAPSAFE_BENCH_MODULES, 0);
	setenv("OPENSSL_CONF_INCLUDE", SNAPSAFE_BENCH_INCLUDE, 0);
	fd = mkstemp(empty);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	for (size_t i = 0; i < IMPLS; i++)
		for (size_t s = 0; s < SIZES; s++)
			for (unsigned t = 0; t <= MAX_THREADS; t++)
				results[i][s][t] = NAN;
	/* Alternate the configurations within each pass, so that noise hits them alike. */
	for (unsigned pass = 0; pass < passes; pass++)
		for (size_t i = 0; i < IMPLS; i++)
			if (run_child(i, impls[i].provider ? conf : empty) < 0 && pass == 0)
				fprintf(stderr, "%s: %s\n", impls[i].name,
					info[i][0] ? info[i] : "the child failed");
	unlink(empty);

	printf("RAND_bytes(): snapsafe's OpenSSL provider against OpenSSL's default DRBG\n");
	for (size_t i = 0; i < IMPLS; i++)
		printf("  %-10s %s\n", impls[i].name, info[i]);
	printf("  provider configuration: %s; module folder: %s\n", conf, getenv("OPENSSL_MODULES"));
	printf("  %.0f ms per run, median of %u runs, best of %u pass%s\n\n", run_ms, reps, passes,
	       passes == 1 ? "" : "es");
	for (unsigned t = 1; t <= MAX_THREADS; t++) {
		printf("ns per call, %u thread%s%s\n%-8s", t, t == 1 ? "" : "s",
		       t == 1 ? "" : " (aggregate)", "size");
		for (size_t i = 0; i < IMPLS; i++)
			printf(" %12s", impls[i].name);
		printf(" %10s %10s %12s %12s\n", "provider", "prov-auto", "default", "provider");
		printf("%-8s%*s %10s %10s %12s %12s\n", "", 13 * IMPLS, "", "speedup", "speedup",
		       "MB/s", "MB/s");
		for (size_t s = 0; s < SIZES; s++) {
			double d = results[0][s][t], p = results[1][s][t], a = results[2][s][t];

			printf("%-8s", size_label[s]);
			for (size_t i = 0; i < IMPLS; i++)
				printf(" %12.1f", results[i][s][t]);
			printf(" %9.2fx %9.2fx %12.0f %12.0f\n", d / p, d / a,
			       (double)sizes[s] * 1e3 / d, (double)sizes[s] * 1e3 / p);
		}
		printf("\n");
	}
	printf("targets (provider with SNAPSAFE_ENGINE=always, one thread)\n");
	{
		double r32 = results[0][0][1] / results[1][0][1];
		double r1m = results[0][2][1] / results[1][2][1];

		printf("  32 B:  >= 5x the default DRBG       %6.2fx  %s\n", r32,
		       r32 >= 5 ? "met" : "NOT MET");
		printf("  1 MiB: >= 1x the default DRBG       %6.2fx  %s\n", r1m,
		       r1m >= 1 ? "met" : "NOT MET");
	}
	return 0;
}
