/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bytes come from libsnapsafe's engine. Under the observed shim a test can read the bytes
 * the engine of its thread will serve next (test/preload/observe.c); a call whose output equals
 * them was served by the engine. Every interposed function, with every flag the engine takes,
 * is checked that way; GRND_RANDOM is checked to leave them where they were (the kernel
 * served it). Threads each get their own engine and no output repeats.
 *
 * Modes: "always" (SNAPSAFE_ENGINE=always: the engine serves) and "never" (SNAPSAFE_ENGINE=never:
 * every function still works and no call is ever served by the engine, which is also what
 * shows that the peek can fail).
 */
#include <pthread.h>

#include "outputs.h"
#include "preload-test.h"

enum { THREADS = 4, THREAD_DRAWS = 2000 };

static struct observe o;

/* @call must produce exactly the @n bytes the engine held next. */
#define assert_served_by_engine(n, out, call) do {				\
		uint8_t _want[256];						\
										\
		peek_next(&o, _want, (n));					\
		call;								\
		if (memcmp((out), _want, (n)) != 0)				\
			test_fail("%s: not the engine's next %zu bytes", #call, (size_t)(n)); \
	} while (0)

TEST(test_each_function_serves_the_engine_bytes)
{
	static const unsigned int flags[] = {
		0, GRND_NONBLOCK, GRND_INSECURE, GRND_NONBLOCK | GRND_INSECURE,
	};
	uint8_t b[256];
	uint32_t v, w;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		/* Small requests take the engine's fast path, larger ones the full one. */
		assert_served_by_engine(16, b, assert_eq(getrandom(b, 16, flags[i]), 16));
		assert_served_by_engine(200, b, assert_eq(getrandom(b, 200, flags[i]), 200));
	}
	assert_served_by_engine(32, b, assert_eq(getentropy(b, 32), 0));
	assert_served_by_engine(256, b, assert_eq(getentropy(b, 256), 0));
	assert_served_by_engine(48, b, arc4random_buf(b, 48));
	assert_served_by_engine(4, &v, v = arc4random());
	/* A power-of-two bound never rejects: the result is the engine's word shifted. */
	peek_next(&o, &w, sizeof(w));
	assert_eq(arc4random_uniform(1u << 31), w >> 1);
}

TEST(test_grnd_random_leaves_the_engine_alone)
{
	uint8_t before[32], after[32], b[32];

	peek_next(&o, before, sizeof(before));
	assert_eq(getrandom(b, sizeof(b), GRND_RANDOM), sizeof(b));
	assert_eq(getrandom(b, sizeof(b), GRND_RANDOM | GRND_NONBLOCK), sizeof(b));
	assert_true(memcmp(b, before, sizeof(b)) != 0);
	assert_eq(o.peek(after, sizeof(after)), 0);
	assert_mem_eq(after, before, sizeof(before));
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	assert_mem_eq(b, before, sizeof(before));
}

struct thread_result {
	struct outputs out;
	bool had_state_before;
};

static void *thread_draws(void *arg)
{
	struct thread_result *r = arg;
	uint8_t b[OUTPUT_SIZE];

	r->had_state_before = o.has_state();
	/* The thread's own engine: the bytes are what its state held. */
	assert_served_by_engine(OUTPUT_SIZE, b, assert_eq(getrandom(b, sizeof(b), 0), sizeof(b)));
	outputs_add(&r->out, b);
	for (int i = 1; i < THREAD_DRAWS; i++) {
		if (i % 3 == 0)
			arc4random_buf(b, sizeof(b));
		else if (i % 3 == 1)
			assert_eq(getentropy(b, sizeof(b)), 0);
		else
			assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
		outputs_add(&r->out, b);
	}
	return NULL;
}

TEST(test_threads_draw_from_their_own_engines)
{
	static struct thread_result r[THREADS];
	struct outputs all = { 0 };
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		assert_eq(pthread_create(&t[i], NULL, thread_draws, &r[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		assert_eq(pthread_join(t[i], NULL), 0);
		assert_true(!r[i].had_state_before);
		for (size_t k = 0; k < r[i].out.n; k++)
			outputs_add(&all, r[i].out.v[k]);
		outputs_free(&r[i].out);
	}
	assert_eq(all.n, THREADS * THREAD_DRAWS);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

/* SNAPSAFE_ENGINE=never: everything works, and nothing is the engine's. */
TEST(test_never_mode_is_served_by_the_kernel)
{
	struct outputs all = { 0 };
	uint8_t b[OUTPUT_SIZE], p[16];

	for (int i = 0; i < 1000; i++) {
		assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
		outputs_add(&all, b);
		assert_eq(getentropy(b, sizeof(b)), 0);
		outputs_add(&all, b);
		arc4random_buf(b, sizeof(b));
		outputs_add(&all, b);
		(void)arc4random();
		assert_true(arc4random_uniform(10) < 10);
		if (o.peek(p, sizeof(p)) == 0)
			test_fail("the engine holds a seeded state although SNAPSAFE_ENGINE=never");
	}
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "always";

	assert_interposed();
	o = observe_functions();
	if (strcmp(mode, "never") == 0) {
		RUN(test_never_mode_is_served_by_the_kernel);
		return 0;
	}
	if (!engine_expected())
		test_fail("mode always needs SNAPSAFE_ENGINE=always in the environment");
	RUN(test_each_function_serves_the_engine_bytes);
	RUN(test_grnd_random_leaves_the_engine_alone);
	RUN(test_threads_draw_from_their_own_engines);
	return 0;
}
