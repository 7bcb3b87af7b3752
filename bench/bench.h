/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-bench internals shared by its three files: the table of request sizes,
 * the implementations under test (bench-impls.c), the child-process protocol that
 * carries results to the parent (snapsafe-bench.c), and the daemon-backed parts of
 * the benchmark (bench-daemon.c).
 *
 * Every implementation is measured in a child process of its own, because the
 * library reads SNAPSAFE_ENGINE once per process; the child writes one text line
 * per result to a pipe (see "Child protocol" below) and never prints tables.
 */
#ifndef SNAPSAFE_BENCH_H
#define SNAPSAFE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Row 0 is the one-uint32_t-per-call loop; rows 1.. are buffer fills of that size. */
enum {
	BENCH_ROW_U32	= 0,
	BENCH_ROWS	= 9,
	BENCH_MAX_LEN	= 1048576,
	BENCH_THREADS	= 2,	/* rows are measured with 1 and with 2 threads */
};

extern const size_t bench_row_bytes[BENCH_ROWS];
extern const char *const bench_row_label[BENCH_ROWS];	/* "u32", "4 B", ... "1 MiB" */
extern const char *const bench_row_key[BENCH_ROWS];	/* "u32", "4", ... "1048576" */

/* bench_row_parse() - a row index for "u32" or a byte count, or -1. */
int bench_row_parse(const char *s);

/*
 * loop_fn - run @n calls of one implementation.
 * @buf: a buffer of at least @len bytes (unused by the uint32_t loop)
 * Return: 0, or a negative errno when a call failed.
 */
typedef int loop_fn(uint8_t *buf, size_t len, uint64_t n);

struct bench_impl {
	const char *name;	/* "snapsafe-always": the JSON name and the child's --child */
	const char *column;	/* short table heading */
	const char *engine;	/* SNAPSAFE_ENGINE for its child; NULL: variable removed */
	/* 0 when usable; else -1 and a reason ("n/a: why") in @why. Runs in the child. */
	int (*setup)(char *why, size_t size);
	loop_fn *fill_loop;
	loop_fn *u32_loop;
	const char *u32_call;	/* what the uint32_t row calls, for the notes */
};

extern const struct bench_impl bench_impls[];
extern const size_t bench_impls_count;

const struct bench_impl *bench_impl_find(const char *name);

/* Timing parameters of one child. */
struct bench_timing {
	double run_ms;		/* target duration of one timed run */
	unsigned reps;		/* timed runs per cell; the median is kept */
};

/*
 * Child protocol: one line per record, fields separated by a tab, free text last.
 *   ok	<row>	<threads>	<ns per call>	<iterations>
 *   fail	<row>	<threads>	<reason>
 *   na	<reason>			(the whole implementation cannot run)
 *   info	<key>	<value>
 *   done
 * The watcher child uses its own records (see bench-daemon.c).
 */

/*
 * bench_child_main() - measure one implementation and write records to @out.
 * @rows, @threads: bit masks of the rows (1 << row) and thread counts (1 << n)
 * Return: the process exit status.
 */
int bench_child_main(const char *impl, FILE *out, unsigned rows, unsigned threads,
		     const struct bench_timing *t);

/* bench_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* bench_median() - the median of @n values; sorts @v in place. */
double bench_median(double *v, size_t n);

/* ---- Children and the daemon (snapsafe-bench.c, bench-daemon.c) ---------- */

/* Called for each line a child writes; @line has no newline. */
typedef void child_line_fn(char *line, void *userdata);

struct child_env {
	const char *engine;		/* SNAPSAFE_ENGINE, or NULL to remove it */
	const char *runtime_dir;	/* SNAPSAFE_RUNTIME_DIR, or NULL to leave it as it is */
	const char *vmclock_path;	/* SNAPSAFE_VMCLOCK_PATH, or NULL to leave it as it is */
};

/*
 * bench_run_child() - re-execute this program with @argv (after argv[0]) plus
 * "--result-fd N", read its records until it exits.
 * @timeout_s: the child is killed after this long
 * @ret_status: a short description when the child did not exit 0, else ""
 * Return: 0 when the child exited 0, else -1.
 */
int bench_run_child(const char *const *argv, const struct child_env *env, int timeout_s,
		    child_line_fn *cb, void *userdata, char *ret_status, size_t status_size);

struct bench_daemon {
	int pid;
	char dir[256];		/* temporary runtime directory */
	char log[300];		/* its stderr */
};

/*
 * bench_daemon_find() - the snapsafed binary: @override, else $SNAPSAFE_BENCH_DAEMON,
 * else ../src/daemon/snapsafed next to this program in the build tree.
 * Return: 0 and the path in @buf, or -1 and the reason in @why.
 */
int bench_daemon_find(const char *override, char *buf, size_t size, char *why, size_t why_size);

/* bench_daemon_start() - start @path on a fresh temporary runtime dir, wait until ready. */
int bench_daemon_start(const char *path, struct bench_daemon *d, char *why, size_t why_size);

/* bench_daemon_stop() - stop it and remove its directory. */
void bench_daemon_stop(struct bench_daemon *d);

/* bench_page_describe() - what the daemon's page says, for the report. */
void bench_page_describe(const char *dir, char *buf, size_t size);

/*
 * bench_watchers_child_main() - the watcher child: open @count watchers, trigger
 * @rounds times and time the notifications. Writes "wround" records.
 */
int bench_watchers_child_main(FILE *out, unsigned count, unsigned nthreads, unsigned rounds);

#endif
