/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A signal handler that calls the API while the interrupted thread is inside the library:
 * the nested call is served by the kernel without taking a lock or waiting, the interrupted
 * call's state is not corrupted, and no output of either repeats another.
 *
 * The rounds case is the deadlock hunt: each round is a fresh process, so the library's
 * one-time initialisation (slot pool, sources, vDSO) runs with a 20 us interval timer firing
 * into it; then fresh threads, one after the other, allocate their slots, fork and draw under
 * the same timer, so signals land in slot allocation, in fork()'s handlers and in thread exit.
 * Every handler draws. A nested call that waits for the call it interrupted never returns:
 * the parent's watchdog sees the round overrun its deadline, kills it and fails.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "deadline.h"
#include "outputs.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum {
	HANDLER_MAX = 20000,
	CHUNK = 4096,
	ROUND_THREADS = 40,		/* fresh threads per round process */
	ROUND_DEADLINE_MS = 20000,	/* a round that takes longer is hung (healthy: ms) */
	ROUNDS_MIN = 20,
	ROUNDS_MAX = 400,
	ROUNDS_BUDGET_MS = 4000,	/* more rounds while it lasts, never fewer than MIN */
	ROUND_EXIT_ZERO_OUTPUT = 4,	/* exit codes of a round; others: a system call failed */
	ROUND_EXIT_CHILD_SIGNAL = 64,	/* + the signal that killed a worker's fork child */
};

static uint8_t handler_out[HANDLER_MAX][OUTPUT_SIZE];
static volatile sig_atomic_t handler_n;

static void handler(int sig)
{
	(void)sig;
	if (handler_n < HANDLER_MAX) {
		snapsafe_random_buf(handler_out[handler_n], OUTPUT_SIZE);
		handler_n++;
	}
}

TEST(test_signal_handler_inside_a_request_goes_to_the_kernel)
{
	static uint8_t buf[CHUNK];
	struct outputs all = { 0 };
	struct sigaction sa = { .sa_handler = handler };
	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	uint64_t nested;

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 200000 && rng_thread_reentrant_calls() < 50; i++) {
		/* Large requests keep the thread inside the engine most of the time. */
		snapsafe_random_buf(buf, sizeof(buf));
		for (size_t k = 0; k < sizeof(buf); k += OUTPUT_SIZE)
			outputs_add(&all, buf + k);
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	nested = rng_thread_reentrant_calls();
	fprintf(stderr, "%d handler calls, %llu of them nested inside a request\n",
		(int)handler_n, (unsigned long long)nested);
	assert_true(nested > 0);
	for (int i = 0; i < handler_n; i++)
		outputs_add(&all, handler_out[i]);
	assert_eq(outputs_repeats(&all), 0);
	/* And the interrupted thread's state still works and still serves from the engine. */
	uint64_t before = rng_thread_engine_requests();
	snapsafe_random_buf(buf, 2048);
	assert_eq(rng_thread_engine_requests(), before + 1);
	outputs_free(&all);
}

/* ---- rounds: lazy initialisation, slot allocation, fork and thread exit under signals ---- */

static volatile sig_atomic_t round_zero_outputs;

static void round_handler(int sig)
{
	static const uint8_t zero[OUTPUT_SIZE];
	uint8_t b[OUTPUT_SIZE];
	int saved = errno;

	(void)sig;
	snapsafe_random_buf(b, sizeof(b));
	if (memcmp(b, zero, sizeof(b)) == 0)
		round_zero_outputs = 1;
	errno = saved;
}

/* Every kind of entry point, small and large requests, so signals land everywhere. */
static void round_draw(void)
{
	static __thread uint8_t big[2 * 1024 + 5];
	uint8_t id[16], small[OUTPUT_SIZE];

	snapsafe_random_buf(small, sizeof(small));
	snapsafe_random_buf(big, sizeof(big));
	(void)snapsafe_random_u64();
	(void)snapsafe_random_uniform(1000);
	snapsafe_uuid_v7(id);
	snapsafe_uuid_v4(id);
	(void)snapsafe_getrandom(small, sizeof(small), GRND_NONBLOCK);
	(void)snapsafe_generation();
}

static void round_child(void *arg)
{
	(void)arg;
	round_draw();
	_exit(round_zero_outputs ? ROUND_EXIT_ZERO_OUTPUT : 0);
}

static void *round_worker(void *arg)
{
	sigset_t alrm;
	long i = (long)arg;

	/* Only this thread takes the timer's signals: they land in its slot allocation. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	if (i % 4 == 0) {
		/* fork() before the first draw: the handlers run inside fork()'s own handlers. */
		pid_t pid = child_start(round_child, NULL);
		int status;

		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				_exit(3);
		/* The round's exit code carries the grandchild's failure up. */
		if (WIFSIGNALED(status))
			_exit(ROUND_EXIT_CHILD_SIGNAL + WTERMSIG(status));
		if (WEXITSTATUS(status) != 0)
			_exit(WEXITSTATUS(status));
	}
	round_draw();
	return NULL;
}

/* One round, in a fresh child: returns only through _exit(). */
static void round_run(void *arg)
{
	struct sigaction sa = { .sa_handler = round_handler, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 20 }, { 0, 20 } };
	sigset_t alrm;

	(void)arg;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	/* The process's first requests: every one-time initialisation runs under the timer. */
	round_draw();
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	for (long i = 0; i < ROUND_THREADS; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, round_worker, (void *)i) != 0)
			_exit(3);
		pthread_join(t, NULL);
	}
	_exit(round_zero_outputs ? ROUND_EXIT_ZERO_OUTPUT : 0);
}

TEST(test_nested_calls_never_wait_for_the_interrupted_call)
{
	uint64_t start = deadline_now_ms();
	int rounds = 0;

	while (rounds < ROUNDS_MIN ||
	       (rounds < ROUNDS_MAX && deadline_now_ms() - start < ROUNDS_BUDGET_MS)) {
		pid_t pid = child_start(round_run, NULL);
		int status;

		if (!child_wait_until(pid, deadline_now_ms() + ROUND_DEADLINE_MS, &status)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_fail("round %d did not finish within %d ms: a call from a signal "
				  "handler waited for the call it interrupted (deadlock)", rounds,
				  ROUND_DEADLINE_MS);
		}
		if (WIFSIGNALED(status))
			test_fail("round %d was killed by signal %d", rounds, WTERMSIG(status));
		if (WEXITSTATUS(status) == ROUND_EXIT_ZERO_OUTPUT)
			test_fail("round %d: a handler got an all-zero output", rounds);
		if (WEXITSTATUS(status) > ROUND_EXIT_CHILD_SIGNAL)
			test_fail("round %d: a child forked by a worker was killed by signal %d",
				  rounds, WEXITSTATUS(status) - ROUND_EXIT_CHILD_SIGNAL);
		if (WEXITSTATUS(status) != 0)
			test_fail("round %d exited with %d (a system call failed)", rounds,
				  WEXITSTATUS(status));
		rounds++;
	}
	fprintf(stderr, "%d rounds of %d threads under a 20 us timer in %llu ms\n", rounds,
		ROUND_THREADS, (unsigned long long)(deadline_now_ms() - start));
}

int main(void)
{
	policy_force_mode(ENGINE_ALWAYS);
	/* First: the rounds need a parent in which the library has not initialised anything. */
	RUN(test_nested_calls_never_wait_for_the_interrupted_call);
	RUN(test_signal_handler_inside_a_request_goes_to_the_kernel);
	return 0;
}
