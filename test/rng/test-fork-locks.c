/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * No lock of the library is held across fork(): while another thread runs an operation
 * over and over (or the library's one-time initialisation), the main thread forks many
 * times, and each child must complete the same operation within a deadline. A child that
 * inherits a lock held by a thread that does not exist in it blocks for ever; the deadline
 * turns that into a failure that names the operation.
 *
 * Covered here: UUIDv7 ordering, the generation sources' initialisation (page, VMClock) and
 * snapsafe_generation(). The watcher locks are covered by test/client/test-watcher-fork.c.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "deadline.h"
#include "page.h"
#include "policy.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum {
	CHILD_MS = 10000,	/* a healthy child takes milliseconds */
	FORKS = 300,
	INIT_ROUNDS = 150,
	INIT_FORKS = 6,
};

static char dir[] = "/tmp/snapsafe-fork-locks-XXXXXX";

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		test_fail("write %s: %m", path);
	close(fd);
}

/* A daemon page and a VMClock page, so that initialisation maps both. */
static void make_sources(void)
{
	struct snapsafe_page page = {
		.generation = 5, .magic = SNAPSAFE_PAGE_MAGIC, .version = SNAPSAFE_PAGE_VERSION,
		.header_size = sizeof(page), .flags = SNAPSAFE_PAGE_RUNNING,
		.live_notifiers = 1ull << SNAPSAFE_NOTIFIER_VMFORK_KMSG,
	};
	uint8_t vmclock[112] = { 0 };
	char path[256];

	*(uint32_t *)(void *)(vmclock + 0) = 0x4b4c4356;	/* "VCLK" */
	*(uint32_t *)(void *)(vmclock + 4) = sizeof(vmclock);
	*(uint16_t *)(void *)(vmclock + 8) = 1;
	*(uint64_t *)(void *)(vmclock + 24) = 1ull << 8;	/* vm_generation_counter present */
	*(uint64_t *)(void *)(vmclock + 104) = 1;
	write_file("generation", &page, sizeof(page));
	write_file("vmclock", vmclock, sizeof(vmclock));
	setenv("SNAPSAFE_RUNTIME_DIR", dir, 1);
	snprintf(path, sizeof(path), "%s/vmclock", dir);
	setenv("SNAPSAFE_VMCLOCK_PATH", path, 1);
}

/* ---- a thread loops on an operation while the main thread forks ---- */

struct looper {
	void (*op)(void);
	bool stop;
	bool started;
};

static void *looper_run(void *arg)
{
	struct looper *l = arg;

	l->op();
	__atomic_store_n(&l->started, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
		l->op();
	return NULL;
}

static void op_uuid_v7(void)
{
	uint8_t id[16];

	snapsafe_uuid_v7(id);
}

static void op_generation(void)
{
	if (snapsafe_generation() != 5)
		_exit(9);
}

static void op_random(void)
{
	uint8_t b[64];

	snapsafe_random_buf(b, sizeof(b));
}

static void run_op(void *op)
{
	((void (*)(void))op)();
}

static void fork_while_looping(void (*op)(void), const char *what)
{
	struct looper l = { .op = op };
	pthread_t t;

	assert_eq(pthread_create(&t, NULL, looper_run, &l), 0);
	wait_until(__atomic_load_n(&l.started, __ATOMIC_ACQUIRE), CHILD_MS,
		   "the looping thread's first operation");
	for (int i = 0; i < FORKS; i++)
		child_expect_exit0(child_start(run_op, (void *)op), CHILD_MS, what);
	__atomic_store_n(&l.stop, true, __ATOMIC_RELEASE);
	assert_eq(pthread_join(t, NULL), 0);
}

TEST(test_uuid_v7_in_a_child_while_a_thread_makes_them)
{
	fork_while_looping(op_uuid_v7, "snapsafe_uuid_v7()");
}

TEST(test_generation_in_a_child_while_a_thread_reads_it)
{
	fork_while_looping(op_generation, "snapsafe_generation()");
}

TEST(test_random_in_a_child_while_a_thread_draws)
{
	fork_while_looping(op_random, "snapsafe_random_buf()");
}

/*
 * The one-time initialisation: each round is a fresh process whose second thread makes the
 * library's first calls (mapping the sources, allocating its slot) while the round's main
 * thread forks; every child makes the same calls.
 */
static void first_calls(void *arg)
{
	(void)arg;
	op_generation();
	op_random();
	op_uuid_v7();
}

static void *init_thread(void *arg)
{
	__atomic_store_n((bool *)arg, true, __ATOMIC_RELEASE);
	first_calls(NULL);
	return NULL;
}

/* A round, in a child of the test: exits 0 unless a child of its own failed. */
static void init_round(void *arg)
{
	(void)arg;
	bool started = false;
	pid_t pids[INIT_FORKS];
	pthread_t t;

	if (pthread_create(&t, NULL, init_thread, &started) != 0)
		_exit(3);
	/* Fork as soon as the thread runs: its first calls are the initialisation. */
	wait_until(__atomic_load_n(&started, __ATOMIC_ACQUIRE), CHILD_MS, "the thread to start");
	for (int i = 0; i < INIT_FORKS; i++)
		pids[i] = child_start(first_calls, NULL);
	for (int i = 0; i < INIT_FORKS; i++)
		child_expect_exit0(pids[i], CHILD_MS, "the library's first calls (initialisation)");
	pthread_join(t, NULL);
}

TEST(test_first_calls_in_a_child_forked_during_initialisation)
{
	/* A round waits up to CHILD_MS for each of its children. */
	for (int r = 0; r < INIT_ROUNDS; r++)
		child_expect_exit0(child_start(init_round, NULL), CHILD_MS * (INIT_FORKS + 1),
				   "a round of forks during initialisation");
}

int main(void)
{
	char cmd[300];
	int r;

	if (!mkdtemp(dir))
		test_fail("mkdtemp: %m");
	make_sources();
	policy_force_mode(ENGINE_ALWAYS);
	/* First, while this process has not initialised anything: rounds fork from it. */
	RUN(test_first_calls_in_a_child_forked_during_initialisation);
	RUN(test_uuid_v7_in_a_child_while_a_thread_makes_them);
	RUN(test_generation_in_a_child_while_a_thread_reads_it);
	RUN(test_random_in_a_child_while_a_thread_draws);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	r = system(cmd);
	return r == 0 ? 0 : 1;
}
