/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thread exit and foreign or corrupted states: a thread that draws from a pthread-key
 * destructor that runs after libsnapsafe's own (a key created later) is served by the
 * kernel and never touches the slot it gave back; a new thread never gets a slot that an
 * exiting thread still uses; and a state whose position is out of range, or whose owner is
 * another thread, is never served (the kernel serves, nothing is read out of bounds).
 */
#include <pthread.h>

#include "deadline.h"
#include "outputs.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum {
	WAIT_MS = 20000,	/* any step of a healthy run takes well under a second */
	DRAWS = 64,
	CHURN_ROUNDS = 300,
};

/* ---- a destructor that runs after the library's ---- */

struct exiting {
	struct flag entered, go, drawn, go_again, done;
	struct rng_state *state_in_destructor;
	uint64_t engine_requests_in_destructor;
	struct outputs out;
};

struct newcomer {
	struct flag drawn, go;
	struct rng_state *state;
	struct outputs out;
};

static pthread_key_t late_key;

static void draw_into(struct outputs *o, int n)
{
	uint8_t b[OUTPUT_SIZE];

	for (int i = 0; i < n; i++) {
		snapsafe_random_buf(b, sizeof(b));
		outputs_add(o, b);
	}
}

/*
 * Runs after the library's destructor: the thread's slot has gone back to the pool. It
 * waits there until a new thread has taken a slot, then draws.
 */
static void late_destructor(void *arg)
{
	struct exiting *e = arg;
	uint64_t before;

	flag_raise(&e->entered);
	flag_wait(&e->go, WAIT_MS, "the main thread to let the exiting thread draw");
	before = rng_thread_engine_requests();
	draw_into(&e->out, DRAWS);
	e->state_in_destructor = rng_current_state();
	e->engine_requests_in_destructor = rng_thread_engine_requests() - before;
	flag_raise(&e->drawn);
	/* Keep drawing while the new thread draws too: the two must never share a state. */
	flag_wait(&e->go_again, WAIT_MS, "the main thread to let the exiting thread draw again");
	draw_into(&e->out, DRAWS);
	flag_raise(&e->done);
}

static void *exiting_run(void *arg)
{
	uint8_t b[OUTPUT_SIZE];

	snapsafe_random_buf(b, sizeof(b));	/* this thread has a slot */
	pthread_setspecific(late_key, arg);
	return NULL;
}

static void *newcomer_run(void *arg)
{
	struct newcomer *n = arg;

	draw_into(&n->out, DRAWS);
	n->state = rng_current_state();
	flag_raise(&n->drawn);
	flag_wait(&n->go, WAIT_MS, "the main thread to let the new thread draw again");
	draw_into(&n->out, DRAWS);
	return NULL;
}

TEST(test_destructor_after_ours_never_shares_a_state_with_a_new_thread)
{
	static struct exiting e;
	static struct newcomer n;
	struct outputs all = { 0 };
	pthread_t te, tn;

	flag_init(&e.entered);
	flag_init(&e.go);
	flag_init(&e.drawn);
	flag_init(&e.go_again);
	flag_init(&e.done);
	flag_init(&n.drawn);
	flag_init(&n.go);
	assert_eq(pthread_create(&te, NULL, exiting_run, &e), 0);
	flag_wait(&e.entered, WAIT_MS, "the exiting thread to reach its late destructor");
	/* Its slot is back in the pool: a new thread starts and takes one. */
	assert_eq(pthread_create(&tn, NULL, newcomer_run, &n), 0);
	flag_wait(&n.drawn, WAIT_MS, "the new thread to draw");
	flag_raise(&e.go);
	flag_wait(&e.drawn, WAIT_MS, "the exiting thread's late destructor to draw");
	fprintf(stderr, "state in the late destructor %p, the new thread's %p\n",
		(void *)e.state_in_destructor, (void *)n.state);
	if (e.state_in_destructor && e.state_in_destructor == n.state)
		test_fail("an exiting thread drew from the slot that a new thread was given");
	/* The documented behaviour: a thread whose slot is gone is served by the kernel. */
	assert_true(e.state_in_destructor == NULL);
	assert_eq(e.engine_requests_in_destructor, 0);
	flag_raise(&e.go_again);
	flag_raise(&n.go);
	flag_wait(&e.done, WAIT_MS, "the exiting thread's second round of draws");
	assert_eq(pthread_join(te, NULL), 0);
	assert_eq(pthread_join(tn, NULL), 0);
	for (size_t i = 0; i < e.out.n; i++)
		outputs_add(&all, e.out.v[i]);
	for (size_t i = 0; i < n.out.n; i++)
		outputs_add(&all, n.out.v[i]);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
	outputs_free(&e.out);
	outputs_free(&n.out);
}

/* ---- many threads exit and start at once, destructors draw ---- */

static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outputs churn_out;

static void churn_destructor(void *arg)
{
	struct outputs mine = { 0 };

	(void)arg;
	draw_into(&mine, 8);
	pthread_mutex_lock(&churn_lock);
	for (size_t i = 0; i < mine.n; i++)
		outputs_add(&churn_out, mine.v[i]);
	pthread_mutex_unlock(&churn_lock);
	outputs_free(&mine);
}

static pthread_key_t churn_key;

static void *churn_run(void *arg)
{
	struct outputs mine = { 0 };

	(void)arg;
	draw_into(&mine, 8);
	pthread_setspecific(churn_key, &churn_key);
	pthread_mutex_lock(&churn_lock);
	for (size_t i = 0; i < mine.n; i++)
		outputs_add(&churn_out, mine.v[i]);
	pthread_mutex_unlock(&churn_lock);
	outputs_free(&mine);
	return NULL;
}

TEST(test_threads_exiting_while_others_start_never_repeat)
{
	enum { AT_ONCE = 8 };

	assert_eq(pthread_key_create(&churn_key, churn_destructor), 0);
	for (int r = 0; r < CHURN_ROUNDS; r++) {
		pthread_t t[AT_ONCE];

		for (int i = 0; i < AT_ONCE; i++)
			assert_eq(pthread_create(&t[i], NULL, churn_run, NULL), 0);
		for (int i = 0; i < AT_ONCE; i++)
			assert_eq(pthread_join(t[i], NULL), 0);
	}
	fprintf(stderr, "%zu outputs from %d threads and their destructors\n", churn_out.n,
		CHURN_ROUNDS * AT_ONCE);
	assert_eq(churn_out.n, (size_t)CHURN_ROUNDS * AT_ONCE * 16);
	assert_eq(outputs_repeats(&churn_out), 0);
	outputs_free(&churn_out);
}

/* ---- states that must not be served ---- */

/* Seed this thread's state, then put @pos in it as a corruption (or a foreign writer) would. */
static struct rng_state *state_with_pos(uint32_t pos)
{
	uint8_t b[OUTPUT_SIZE];
	struct rng_state *s;

	snapsafe_random_buf(b, sizeof(b));
	s = rng_current_state();
	assert_true(s && s->ready);
	s->pos = pos;
	return s;
}

TEST(test_position_out_of_range_is_never_served)
{
	static const uint8_t zero[OUTPUT_SIZE];
	static const uint32_t bad[] = { 1u << 31, RNG_BATCH_SIZE + 1, 3 };
	uint8_t b[OUTPUT_SIZE], big[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t engine;

		/* A small request (the fast path's check, then the full path's). */
		state_with_pos(bad[i]);
		engine = rng_thread_engine_requests();
		snapsafe_random_buf(b, sizeof(b));
		assert_true(memcmp(b, zero, sizeof(b)) != 0);
		assert_eq(rng_thread_engine_requests(), engine);
		/* A large one (the full path only). */
		state_with_pos(bad[i]);
		engine = rng_thread_engine_requests();
		snapsafe_random_buf(big, sizeof(big));
		assert_true(memcmp(big + sizeof(big) - OUTPUT_SIZE, zero, OUTPUT_SIZE) != 0);
		assert_eq(rng_thread_engine_requests(), engine);
		/* Then the state is rebuilt from a new seed and serves again. */
		snapsafe_random_buf(big, sizeof(big));
		assert_eq(rng_thread_engine_requests(), engine + 1);
	}
}

TEST(test_state_owned_by_another_thread_is_never_served)
{
	uint8_t b[OUTPUT_SIZE], big[300];
	struct rng_state *s;
	uint64_t engine;
	uint32_t pos;

	snapsafe_random_buf(b, sizeof(b));
	s = rng_current_state();
	assert_true(s && s->ready && s->owner != 0);
	s->owner ^= 1;		/* what another task's claim looks like from here */
	pos = s->pos;
	engine = rng_thread_engine_requests();
	snapsafe_random_buf(b, sizeof(b));
	snapsafe_random_buf(big, sizeof(big));
	assert_eq(rng_thread_engine_requests(), engine);
	assert_eq(s->pos, pos);		/* not a byte taken from it */
	s->owner ^= 1;
	snapsafe_random_buf(big, sizeof(big));
	assert_eq(rng_thread_engine_requests(), engine + 1);
}

int main(void)
{
	uint8_t b[OUTPUT_SIZE];

	policy_force_mode(ENGINE_ALWAYS);
	/* The library's key exists before ours, so our destructors run after its. */
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(pthread_key_create(&late_key, late_destructor), 0);
	RUN(test_destructor_after_ours_never_shares_a_state_with_a_new_thread);
	RUN(test_threads_exiting_while_others_start_never_repeat);
	RUN(test_position_out_of_range_is_never_served);
	RUN(test_state_owned_by_another_thread_is_never_served);
	return 0;
}
