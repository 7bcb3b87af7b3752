/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fork storms: after fork (from one thread or from a multi-threaded parent),
 * vfork and posix_spawn, no 32-byte output of the parent or of any child may
 * equal another. The `unsafe` scenario runs the same storm on memory that is not
 * wiped on fork and asserts that repeats DO appear: the storm can see the bug.
 *
 * Usage: test-fork-storm SCENARIO [droppable|wipeonfork]
 */
#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outputs.h"
#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "state.h"
#include "test.h"

extern char **environ;

enum {
	CHILDREN = 1000,
	PER_CHILD = 4,
	THREADS = 8,
	PER_THREAD = 2000,
};

/* Children write here: a MAP_SHARED array survives their exit. */
static uint8_t (*shared)[PER_CHILD][OUTPUT_SIZE];
static struct outputs all;

static void draw(uint8_t out[PER_CHILD][OUTPUT_SIZE])
{
	for (int k = 0; k < PER_CHILD; k++)
		snapsafe_random_buf(out[k], OUTPUT_SIZE);
}

static void collect_children(size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < PER_CHILD; k++)
			outputs_add(&all, shared[i][k]);
}

/* The parent draws as much as all children together: its continuation must not repeat. */
static void parent_continues(size_t n)
{
	uint8_t out[PER_CHILD][OUTPUT_SIZE];

	for (size_t i = 0; i < n; i++) {
		draw(out);
		for (int k = 0; k < PER_CHILD; k++)
			outputs_add(&all, out[k]);
	}
}

static void fork_children(size_t first, size_t n)
{
	for (size_t i = first; i < first + n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			test_fail("fork: %m");
		if (pid == 0) {
			draw(shared[i]);
			_exit(0);
		}
	}
}

static void reap_all(void)
{
	int status;

	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			test_fail("a child failed (status %d)", status);
}

static void scenario_processes(void)
{
	uint8_t warm[OUTPUT_SIZE];

	snapsafe_random_buf(warm, sizeof(warm));	/* a seeded state with bytes pending */
	outputs_add(&all, warm);
	/* In waves, so 1000 children never exhaust the process limit at once. */
	for (size_t i = 0; i < CHILDREN; i += 100) {
		fork_children(i, 100);
		reap_all();
	}
	collect_children(CHILDREN);
	parent_continues(CHILDREN);
}

static pthread_barrier_t start;

static void *thread_draws(void *arg)
{
	struct outputs *mine = arg;
	uint8_t out[OUTPUT_SIZE];

	pthread_barrier_wait(&start);
	for (int i = 0; i < PER_THREAD; i++) {
		snapsafe_random_buf(out, sizeof(out));
		outputs_add(mine, out);
	}
	return NULL;
}

struct forker {
	size_t first, n;
	struct outputs out;
};

static void *thread_forks(void *arg)
{
	struct forker *f = arg;
	uint8_t out[OUTPUT_SIZE];

	pthread_barrier_wait(&start);
	for (size_t i = 0; i < f->n; i++) {
		snapsafe_random_buf(out, sizeof(out));
		outputs_add(&f->out, out);
		fork_children(f->first + i, 1);
	}
	return NULL;
}

static void scenario_threads(void)
{
	pthread_t t[THREADS];
	struct outputs drawn[THREADS] = { 0 };
	struct forker forkers[2] = { { 0, CHILDREN / 2 }, { CHILDREN / 2, CHILDREN / 2 } };

	/* Eight threads draw while two others fork, 500 children each. */
	pthread_barrier_init(&start, NULL, THREADS + 2);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, thread_draws, &drawn[i]);
	pthread_t ft[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&ft[i], NULL, thread_forks, &forkers[i]);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(ft[i], NULL);
	reap_all();
	collect_children(CHILDREN);
	for (int i = 0; i < THREADS; i++) {
		for (size_t j = 0; j < drawn[i].n; j++)
			outputs_add(&all, drawn[i].v[j]);
		outputs_free(&drawn[i]);
	}
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < forkers[i].out.n; j++)
			outputs_add(&all, forkers[i].out.v[j]);
		outputs_free(&forkers[i].out);
	}
	parent_continues(CHILDREN);
}

static void scenario_vfork(void)
{
	uint8_t warm[OUTPUT_SIZE];

	snapsafe_random_buf(warm, sizeof(warm));
	outputs_add(&all, warm);
	for (size_t i = 0; i < CHILDREN; i++) {
		/*
		 * A vfork child shares the parent's memory, state included: what it
		 * draws is consumed from the parent's batch, so the parent must not
		 * serve those bytes again.
		 */
		pid_t pid = vfork();

		if (pid < 0)
			test_fail("vfork: %m");
		if (pid == 0) {
			draw(shared[i]);
			_exit(0);
		}
		reap_all();
		uint8_t out[PER_CHILD][OUTPUT_SIZE];
		draw(out);
		for (int k = 0; k < PER_CHILD; k++)
			outputs_add(&all, out[k]);
	}
	collect_children(CHILDREN);
}

static void scenario_spawn(const char *self)
{
	uint8_t warm[OUTPUT_SIZE];

	snapsafe_random_buf(warm, sizeof(warm));
	outputs_add(&all, warm);
	for (size_t i = 0; i < 200; i++) {
		int p[2];
		pid_t pid;
		posix_spawn_file_actions_t fa;
		char fdarg[16];

		if (pipe(p) < 0)
			test_fail("pipe: %m");
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		char *argv[] = { (char *)self, "child", fdarg, NULL };
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		if (posix_spawn(&pid, self, &fa, NULL, argv, environ) != 0)
			test_fail("posix_spawn: %m");
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		outputs_read_fd(&all, p[0]);
		close(p[0]);
		reap_all();
		uint8_t out[PER_CHILD][OUTPUT_SIZE];
		draw(out);
		for (int k = 0; k < PER_CHILD; k++)
			outputs_add(&all, out[k]);
	}
}

static int spawned_child(int fd)
{
	uint8_t out[PER_CHILD][OUTPUT_SIZE];

	draw(out);
	if (write(fd, out, sizeof(out)) != (ssize_t)sizeof(out))
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *scenario = argc > 1 ? argv[1] : "processes";
	size_t repeats;

	if (strcmp(scenario, "child") == 0 && argc > 2)
		return spawned_child(atoi(argv[2]));

	policy_force_mode(ENGINE_ALWAYS);	/* the engine must serve: it is what is tested */
	if (argc > 2 && strcmp(argv[2], "wipeonfork") == 0)
		state_pool_force_memory(STATE_MEMORY_WIPEONFORK);
	if (strcmp(scenario, "unsafe") == 0)
		state_pool_force_memory(STATE_MEMORY_UNSAFE_TEST_ONLY);

	shared = mmap(NULL, sizeof(*shared) * CHILDREN, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		test_fail("mmap: %m");

	if (strcmp(scenario, "processes") == 0 || strcmp(scenario, "unsafe") == 0)
		scenario_processes();
	else if (strcmp(scenario, "threads") == 0)
		scenario_threads();
	else if (strcmp(scenario, "vfork") == 0)
		scenario_vfork();
	else if (strcmp(scenario, "spawn") == 0)
		scenario_spawn(argv[0]);
	else
		test_fail("unknown scenario %s", scenario);

	if (strcmp(scenario, "unsafe") != 0 && rng_current_state() == NULL)
		test_fail("the engine never ran: nothing was tested");
	fprintf(stderr, "%s (%s memory): %zu outputs\n", scenario,
		state_memory_name(state_pool_memory()), all.n);
	repeats = outputs_repeats(&all);
	if (strcmp(scenario, "unsafe") == 0) {
		/* Negative control: unwiped memory makes every child replay the parent. */
		if (repeats < CHILDREN)
			test_fail("only %zu repeats on unwiped memory: the storm cannot see the bug",
				  repeats);
		fprintf(stderr, "negative control: %zu repeats seen, as expected\n", repeats);
		return 0;
	}
	assert_eq(repeats, 0);
	return 0;
}
