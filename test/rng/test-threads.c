/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * 64 threads draw at once: no output repeats, every thread has a state of its
 * own, and a state released by an exited thread is wiped before a new thread
 * gets it (no thread ever continues another thread's stream).
 */
#include <pthread.h>

#include "outputs.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum { THREADS = 64, PER_THREAD = 2000 };

struct worker {
	struct outputs out;
	struct rng_state *state;
	uint8_t pending[OUTPUT_SIZE];	/* the bytes the state would serve next */
};

static pthread_barrier_t start, done;

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[OUTPUT_SIZE];

	pthread_barrier_wait(&start);
	for (int i = 0; i < PER_THREAD; i++) {
		snapsafe_random_buf(buf, sizeof(buf));
		outputs_add(&w->out, buf);
	}
	w->state = rng_current_state();
	if (w->state && w->state->pos + OUTPUT_SIZE <= RNG_BATCH_SIZE)
		memcpy(w->pending, w->state->batch + w->state->pos, OUTPUT_SIZE);
	/* Stay alive until all have looked: an exited thread's state is recycled. */
	pthread_barrier_wait(&done);
	return NULL;
}

TEST(test_64_threads_never_repeat_and_never_share_a_state)
{
	static struct worker w[THREADS];
	pthread_t t[THREADS];
	struct outputs all = { 0 };

	pthread_barrier_init(&start, NULL, THREADS);
	pthread_barrier_init(&done, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) != 0)
			test_fail("pthread_create");
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		assert_true(w[i].state != NULL);
		for (int j = 0; j < i; j++)
			assert_true(w[i].state != w[j].state);
		for (size_t k = 0; k < w[i].out.n; k++)
			outputs_add(&all, w[i].out.v[k]);
	}
	assert_eq(all.n, THREADS * PER_THREAD);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

TEST(test_recycled_state_is_wiped_for_the_next_thread)
{
	static struct worker first, second;
	pthread_t t;
	uint8_t zero[OUTPUT_SIZE] = { 0 };

	pthread_barrier_init(&start, NULL, 1);
	pthread_barrier_init(&done, NULL, 1);
	pthread_create(&t, NULL, worker_run, &first);
	pthread_join(t, NULL);
	assert_true(memcmp(first.pending, zero, OUTPUT_SIZE) != 0);
	/* The first thread exited: its slot went back to the pool, wiped. */
	pthread_create(&t, NULL, worker_run, &second);
	pthread_join(t, NULL);
	for (size_t k = 0; k < second.out.n; k++)
		if (memcmp(second.out.v[k], first.pending, OUTPUT_SIZE) == 0)
			test_fail("a new thread served bytes left in an exited thread's state");
	outputs_free(&first.out);
	outputs_free(&second.out);
}

int main(void)
{
	uint8_t b[OUTPUT_SIZE];

	policy_force_mode(ENGINE_ALWAYS);
	/*
	 * The library's one-time initialisation first: threads that find it running in another
	 * thread are served by the kernel meanwhile (and on a busy machine may finish all their
	 * draws that way), and this test is about the threads' own states.
	 */
	snapsafe_random_buf(b, sizeof(b));
	RUN(test_64_threads_never_repeat_and_never_share_a_state);
	RUN(test_recycled_state_is_wiped_for_the_next_thread);
	return 0;
}
