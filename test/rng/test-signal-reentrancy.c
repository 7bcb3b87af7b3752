/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A signal handler that calls the API while the interrupted thread is inside it:
 * the nested call is served by the kernel, the interrupted call's state is not
 * corrupted, and no output of either repeats another.
 */
#include <signal.h>
#include <sys/time.h>

#include "outputs.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum { HANDLER_MAX = 20000, CHUNK = 4096 };

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

int main(void)
{
	policy_force_mode(ENGINE_ALWAYS);
	RUN(test_signal_handler_inside_a_request_goes_to_the_kernel);
	return 0;
}
