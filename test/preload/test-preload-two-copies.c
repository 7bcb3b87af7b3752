/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A program that links libsnapsafe.so itself and runs with the shim has two engines: its own
 * calls (snapsafe_*()) go to libsnapsafe.so, its glibc calls (getrandom() ...) to the shim's
 * copy, whose symbols are all hidden. The two share nothing, which is what keeps them safe:
 * drawing from one does not move the other (the shim's next bytes stay put, the observed
 * shim's peek), outputs of both never repeat, also across fork(), and a signal handler that
 * draws from one copy while the program is inside the other neither waits nor repeats.
 * SNAPSAFE_ENGINE=always.
 */
#include <sys/wait.h>

#include "deadline.h"
#include "outputs.h"
#include "preload-test.h"
#include "snapsafe/snapsafe.h"

enum { DRAWS = 2000, HANDLER_MAX = 4000 };

static struct observe o;

TEST(test_each_copy_is_called_where_it_belongs)
{
	if (!strstr(object_of((const void *)snapsafe_getrandom), "libsnapsafe.so"))
		test_fail("snapsafe_getrandom comes from %s, not libsnapsafe.so",
			  object_of((const void *)snapsafe_getrandom));
	assert_true(dlsym(RTLD_DEFAULT, "snapsafe_random_buf") == (void *)snapsafe_random_buf);
	assert_from_shim(getrandom);
}

TEST(test_the_program_s_draws_leave_the_shim_s_engine_alone)
{
	uint8_t next[16], b[64];

	peek_next(&o, next, sizeof(next));
	for (int i = 0; i < 100; i++) {
		snapsafe_random_buf(b, sizeof(b));
		assert_eq(snapsafe_getrandom(b, 16, 0), 16);
		(void)snapsafe_random_u64();
	}
	assert_eq(getrandom(b, 16, 0), 16);
	assert_mem_eq(b, next, sizeof(next));
}

static void draw_both(struct outputs *out, int fd)
{
	uint8_t b[OUTPUT_SIZE];

	for (int i = 0; i < DRAWS; i++) {
		if (i % 2)
			snapsafe_random_buf(b, sizeof(b));
		else
			assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
		if (out)
			outputs_add(out, b);
		if (fd >= 0 && write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			_exit(3);
	}
}

TEST(test_outputs_of_both_never_repeat_across_fork)
{
	struct outputs all = { 0 };
	int fds[2], status;
	pid_t pid;

	draw_both(&all, -1);
	assert_eq(pipe(fds), 0);
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		draw_both(NULL, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	draw_both(&all, -1);
	outputs_read_fd(&all, fds[0]);
	close(fds[0]);
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_eq(status, 0);
	assert_eq(all.n, 3 * DRAWS);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

static uint8_t handler_out[HANDLER_MAX][OUTPUT_SIZE];
static volatile sig_atomic_t handler_n;

/* Draws from the copy the program is probably not inside: the other one, alternately. */
static void handler(int sig)
{
	int n = handler_n;

	(void)sig;
	if (n >= HANDLER_MAX)
		return;
	if (n % 2)
		snapsafe_random_buf(handler_out[n], OUTPUT_SIZE);
	else if (getrandom(handler_out[n], OUTPUT_SIZE, 0) != OUTPUT_SIZE)
		_exit(4);
	handler_n = n + 1;
}

static void cross_copy_handlers(void *unused)
{
	static uint8_t big[8192];
	struct outputs all = { 0 };
	uint8_t b[OUTPUT_SIZE];
	uint64_t start = deadline_now_ms();

	(void)unused;
	alarm_every(handler, 50);
	while (handler_n < 400 && deadline_now_ms() - start < 3000) {
		snapsafe_random_buf(big, sizeof(big));
		assert_eq(getrandom(big, sizeof(big), 0), sizeof(big));
		snapsafe_random_buf(b, sizeof(b));
		outputs_add(&all, b);
		assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
		outputs_add(&all, b);
	}
	alarm_every(NULL, 0);
	if (handler_n < 50)
		test_fail("only %d handler calls", (int)handler_n);
	for (int i = 0; i < handler_n; i++)
		outputs_add(&all, handler_out[i]);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

TEST(test_handlers_drawing_from_the_other_copy)
{
	child_expect_exit0(child_start(cross_copy_handlers, NULL), 60000,
			   "drawing from both copies under a timer whose handler draws");
}

int main(void)
{
	if (!engine_expected())
		test_fail("this test needs SNAPSAFE_ENGINE=always in the environment");
	assert_interposed();
	o = observe_functions();
	RUN(test_each_copy_is_called_where_it_belongs);
	RUN(test_the_program_s_draws_leave_the_shim_s_engine_alone);
	RUN(test_outputs_of_both_never_repeat_across_fork);
	RUN(test_handlers_drawing_from_the_other_copy);
	return 0;
}
