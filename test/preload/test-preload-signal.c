/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signal handlers: a 50 us timer whose handler calls getrandom, getentropy, arc4random_buf and
 * arc4random while the program is inside the shim (large requests keep it there most of the
 * time). Nothing deadlocks: the body runs in a child, and the parent's watchdog fails the test
 * if it overruns its deadline. No output of a handler or of the program repeats another or is
 * all zero, and errno as the program set it survives. With the engine serving
 * (SNAPSAFE_ENGINE=always) some handler calls must have landed inside the engine, which the
 * observed shim counts: they were served by the kernel without touching the interrupted call.
 * Without it (auto, no daemon) the same runs on the kernel's path (the vDSO).
 */
#include "deadline.h"
#include "outputs.h"
#include "preload-test.h"

enum {
	HANDLER_MAX = 20000,
	MIN_RUN_MS = 1000,	/* draw at least this long, so that signals land everywhere */
	BUDGET_MS = 5000,	/* and at most this long, unless enough happened sooner */
	MIN_HANDLERS = 2000,
	MIN_NESTED = 200,
	DEADLINE_MS = 60000,	/* a child that takes longer is hung (healthy: 1 to 5 s) */
};

static uint8_t handler_out[HANDLER_MAX][OUTPUT_SIZE];
static volatile sig_atomic_t handler_n, handler_failed;

static void handler(int sig)
{
	int n = handler_n;
	uint8_t *b;

	(void)sig;
	if (n >= HANDLER_MAX)
		return;
	b = handler_out[n];
	switch (n % 4) {
	case 0:
		if (getrandom(b, OUTPUT_SIZE, 0) != OUTPUT_SIZE)
			handler_failed = 1;
		break;
	case 1:
		if (getentropy(b, OUTPUT_SIZE) != 0)
			handler_failed = 2;
		break;
	case 2:
		arc4random_buf(b, OUTPUT_SIZE);
		break;
	default:
		for (int i = 0; i < OUTPUT_SIZE; i += 4) {
			uint32_t v = arc4random();

			memcpy(b + i, &v, sizeof(v));
		}
		break;
	}
	handler_n = n + 1;
}

static void draw_under_timer(void *unused)
{
	static uint8_t big[4096];
	struct observe o = observe_functions();
	bool engine = engine_expected();
	struct outputs all = { 0 };
	uint8_t b[OUTPUT_SIZE];
	uint64_t start = deadline_now_ms();

	(void)unused;
	alarm_every(handler, 50);
	while (deadline_now_ms() - start < MIN_RUN_MS ||
	       (deadline_now_ms() - start < BUDGET_MS &&
		(handler_n < MIN_HANDLERS || (engine && o.nested_calls() < MIN_NESTED)))) {
		errno = EXDEV;
		assert_eq(getrandom(big, sizeof(big), 0), sizeof(big));
		assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
		outputs_add(&all, b);
		arc4random_buf(big, 2000);
		assert_eq(getentropy(b, sizeof(b)), 0);
		outputs_add(&all, b);
		if (errno != EXDEV)
			test_fail("errno became %s across draws and handlers", strerror(errno));
	}
	alarm_every(NULL, 0);
	fprintf(stderr, "%d handler calls, %llu of them inside the engine, %zu draws\n",
		(int)handler_n, (unsigned long long)o.nested_calls(), all.n);
	if (handler_failed)
		test_fail("a handler's request failed (case %d)", (int)handler_failed);
	if (handler_n < MIN_HANDLERS / 10)
		test_fail("only %d handler calls in %d ms", (int)handler_n, BUDGET_MS);
	if (engine && o.nested_calls() == 0)
		test_fail("no handler landed inside the engine: the test proved nothing");
	for (int i = 0; i < handler_n; i++)
		outputs_add(&all, handler_out[i]);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

TEST(test_signal_handlers_draw_without_deadlock)
{
	child_expect_exit0(child_start(draw_under_timer, NULL), DEADLINE_MS,
			   "drawing under a 50 us timer whose handler draws");
}

int main(void)
{
	assert_interposed();
	RUN(test_signal_handlers_draw_without_deadlock);
	return 0;
}
