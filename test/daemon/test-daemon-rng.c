/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RNG as a client of the real snapsafed: linked to libsnapsafe (its internal
 * archive, to reach the thread's engine state and counters), page and policy from a
 * daemon started in a temporary runtime directory.
 *
 * The clone test of test/rng/test-generation-sources.c, with the daemon doing the raise:
 * save the thread's state, draw, put the saved state back (what restoring a VM snapshot
 * does to memory), raise, draw again. Without a raise the outputs repeat, which the test
 * asserts too, so it can see the bug it guards against; after a raise by `trigger` or by
 * a kernel VM-fork record none may repeat. Quiesce sends every request to the kernel
 * until resume; a stopped daemon does too.
 * Usage: test-daemon-rng SNAPSAFED
 */
#include <snapsafe/snapsafe.h>

#include "../rng/rollback.h"
#include "daemon-util.h"
#include "policy.h"
#include "rng.h"

enum { DRAWS = 64 };

static struct td t;

static void raise_by_trigger(void)
{
	uint32_t gen = snapsafe_generation();

	/* The daemon publishes the page before it answers. */
	assert_eq(snapsafe_trigger(0), gen + 1);
	assert_eq(snapsafe_generation(), gen + 1);
}

static unsigned long long kmsg_seq;

static void raise_by_kmsg_record(void)
{
	uint32_t gen = snapsafe_generation();
	char line[256];

	snprintf(line, sizeof(line), "6,%llu,5000000,-;random: crng reseeded due to virtual "
		 "machine fork\n", kmsg_seq++);
	td_append(t.kmsg, line);
	/* The futex on the page: what a lazy mmap user waits with. */
	assert_eq(snapsafe_generation_wait(gen, TD_WAIT_MS), gen + 1);
}

static void quiesce(void)
{
	assert_eq(snapsafe_quiesce(), 0);
}

TEST(test_engine_serves_while_the_daemon_covers_vm_snapshots)
{
	uint64_t before = rng_thread_engine_requests();
	uint8_t b[2048];

	assert_true(td_status(&t).notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMFORK_KMSG));
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
	assert_eq(snapsafe_generation(), td_status(&t).generation);
}

TEST(test_rolled_back_state_without_a_raise_repeats)
{
	size_t n = rollback_and_compare(DRAWS, NULL);

	fprintf(stderr, "without a raise: %zu of %d outputs repeat\n", n, DRAWS);
	assert_eq(n, DRAWS);
}

TEST(test_rolled_back_state_after_a_trigger_never_repeats)
{
	uint64_t reseeds = rng_thread_reseeds();

	assert_eq(rollback_and_compare(DRAWS, raise_by_trigger), 0);
	assert_eq(rng_thread_reseeds(), reseeds + 1);
}

TEST(test_rolled_back_state_after_a_kernel_vmfork_record_never_repeats)
{
	uint64_t reseeds = rng_thread_reseeds();

	assert_eq(rollback_and_compare(DRAWS, raise_by_kmsg_record), 0);
	assert_eq(rng_thread_reseeds(), reseeds + 1);
}

/* Many outputs of several sizes, across several raises: none after a raise was seen before. */
TEST(test_outputs_after_raises_are_all_new)
{
	struct outputs all = { 0 };

	for (int round = 0; round < 4; round++) {
		rollback_draw(&all, 2048);
		raise_by_trigger();
	}
	rollback_draw(&all, 2048);
	assert_eq(outputs_repeats(&all), 0);
	outputs_free(&all);
}

TEST(test_quiesce_makes_the_kernel_serve_until_resume)
{
	uint64_t before;
	uint32_t gen = snapsafe_generation();
	uint8_t b[2048];

	/* The rolled-back state is not used once quiesced: the kernel answers. */
	assert_eq(rollback_and_compare(DRAWS, quiesce), 0);
	assert_true(td_status(&t).quiesced);
	before = rng_thread_engine_requests();
	for (int i = 0; i < 10; i++)
		snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before);
	assert_eq(snapsafe_generation(), gen);

	assert_eq(snapsafe_resume(), gen + 1);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
}

TEST(test_stopped_daemon_makes_the_kernel_serve)
{
	uint64_t before = rng_thread_engine_requests();
	uint8_t b[2048];

	assert_eq(td_stop_signal(&t, SIGTERM), 0);
	assert_eq(rollback_and_compare(DRAWS, NULL), 0);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before);
	td_start_argv(&t, NULL);
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(rng_thread_engine_requests(), before + 1);
}

int main(int argc, char **argv)
{
	td_init(&t, argc > 1 ? argv[1] : NULL);
	/* Only the daemon's page as a source: no VMClock, the default policy. */
	setenv("SNAPSAFE_VMCLOCK_PATH", t.vmclock, 1);
	unsetenv("SNAPSAFE_ENGINE");
	td_start_argv(&t, NULL);
	if (!state_pool_wipes_on_fork())
		test_skip("no fork-safe memory for the engine (MAP_DROPPABLE or MADV_WIPEONFORK)");
	RUN(test_engine_serves_while_the_daemon_covers_vm_snapshots);
	RUN(test_rolled_back_state_without_a_raise_repeats);
	RUN(test_rolled_back_state_after_a_trigger_never_repeats);
	RUN(test_rolled_back_state_after_a_kernel_vmfork_record_never_repeats);
	RUN(test_outputs_after_raises_are_all_new);
	RUN(test_quiesce_makes_the_kernel_serve_until_resume);
	RUN(test_stopped_daemon_makes_the_kernel_serve);
	return td_finish(&t);
}
