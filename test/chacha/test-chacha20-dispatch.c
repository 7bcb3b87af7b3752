/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run-time choice: without SNAPSAFE_CHACHA the best is the fastest supported
 * entry of the table; SNAPSAFE_CHACHA selects any supported implementation and an
 * unknown or unsupported name falls back to the best; the answer is the same from
 * racing threads. The choice is made once per process, so each case runs in a
 * fresh child that sets the variable before the first call.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chacha20.h"
#include "cpu.h"
#include "test.h"

enum { THREADS = 8 };

static const struct chacha20_impl *expected_best(void)
{
	const struct chacha20_impl *best = NULL;

	for (size_t i = 0; i < chacha20_impls_count; i++)
		if (chacha20_impls[i].supported())
			best = &chacha20_impls[i];
	return best;
}

/* In a child: set (or unset) the variable, then check the first choice. */
static void check_choice(const char *env, const struct chacha20_impl *want)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (env)
			setenv("SNAPSAFE_CHACHA", env, 1);
		else
			unsetenv("SNAPSAFE_CHACHA");
		if (strcmp(chacha20_best_name(), want->name) != 0) {
			fprintf(stderr, "SNAPSAFE_CHACHA=%s chose %s, expected %s\n",
				env ? env : "(unset)", chacha20_best_name(), want->name);
			_exit(1);
		}
		_exit(chacha20_best() == want->blocks ? 0 : 2);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_eq(WEXITSTATUS(status), 0);
}

TEST(test_best_is_fastest_supported)
{
	check_choice(NULL, expected_best());
}

TEST(test_env_selects_each_supported)
{
	for (size_t i = 0; i < chacha20_impls_count; i++)
		check_choice(chacha20_impls[i].name,
			     chacha20_impls[i].supported() ? &chacha20_impls[i] : expected_best());
}

TEST(test_env_unknown_name_gives_best)
{
	check_choice("rot13", expected_best());
	check_choice("", expected_best());
}

/* The table has the x86 entries the CPU flags promise, in the documented order. */
TEST(test_table_order_and_flags)
{
	assert_eq(strcmp(chacha20_impls[0].name, "portable"), 0);
	assert_true(chacha20_impls[0].supported());
	for (size_t i = 0; i < chacha20_impls_count; i++) {
		const char *n = chacha20_impls[i].name;

		if (strcmp(n, "sse2") == 0)
			assert_eq(chacha20_impls[i].supported(), cpu_has_sse2());
		else if (strcmp(n, "avx2") == 0)
			assert_eq(chacha20_impls[i].supported(), cpu_has_avx2());
		else if (strcmp(n, "avx512") == 0)
			assert_eq(chacha20_impls[i].supported(), cpu_has_avx512f());
	}
#if defined(__x86_64__)
	assert_true(cpu_has_sse2());	/* part of the x86-64 baseline */
	/* AVX-512F CPUs have AVX2; the OS state checks nest the same way. */
	if (cpu_has_avx512f())
		assert_true(cpu_has_avx2());
#endif
}

static void *race(void *arg)
{
	return (void *)chacha20_best();
}

TEST(test_threads_agree)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t[THREADS];
		void *got[THREADS];

		unsetenv("SNAPSAFE_CHACHA");
		for (int i = 0; i < THREADS; i++)
			if (pthread_create(&t[i], NULL, race, NULL) != 0)
				_exit(3);
		for (int i = 0; i < THREADS; i++)
			if (pthread_join(t[i], &got[i]) != 0 ||
			    got[i] != (void *)expected_best()->blocks)
				_exit(4);
		_exit(0);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_eq(WEXITSTATUS(status), 0);
}

int main(void)
{
	RUN(test_table_order_and_flags);
	RUN(test_best_is_fastest_supported);
	RUN(test_env_selects_each_supported);
	RUN(test_env_unknown_name_gives_best);
	RUN(test_threads_agree);
	return 0;
}
