/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Everything at once, for a few seconds: threads drawing 32-byte outputs (and larger requests
 * cut into 32-byte records), threads created and exiting all the time whose pthread-key
 * destructors (a key created after libsnapsafe's) draw too, fork()s whose children draw and
 * send their outputs back through a pipe, and interval timers whose signal handler draws in
 * whichever thread it interrupts (one timer for the process, one for each short-lived thread,
 * so that signals also land in slot allocation and thread exit). Every output of every kind is collected: none may equal
 * another, none may be all zero, nothing may crash, and a watchdog turns a hang into a
 * failure with a message.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include "deadline.h"
#include "outputs.h"
#include "policy.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum {
	RUN_MS		= 2500,		/* how long everything runs together */
	WATCHDOG_MS	= 60000,	/* a healthy run ends a few seconds after RUN_MS */
	CHILD_MS	= 20000,
	DRAWERS		= 4,
	DRAWER_MAX	= 60000,	/* records per drawer: bounded memory and sorting time */
	CHURN_AT_ONCE	= 8,
	CHILD_DRAWS	= 8,
	SIGNAL_MAX	= 100000,
	TIMER_US	= 50,		/* the process's timer: signals land in any thread */
	THREAD_TIMER_US	= 100,		/* each short-lived thread's own timer */
};

static bool stop;
static struct flag finished;

/* ---- the watchdog ---- */

static void *watchdog_run(void *arg)
{
	static const char msg[] = "test-stress: FAIL: still running after the watchdog's "
				  "deadline: a thread is blocked (deadlock)\n";

	(void)arg;
	pthread_mutex_lock(&finished.lock);
	if (!finished.raised) {
		struct timespec ts;
		int r = 0;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += WATCHDOG_MS / 1000;
		while (!finished.raised && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&finished.cond, &finished.lock, &ts);
		if (!finished.raised) {
			/* write(2), not stdio: a hung thread may hold stdio's lock. */
			if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
				_exit(2);
			_exit(EXIT_FAILURE);
		}
	}
	pthread_mutex_unlock(&finished.lock);
	return NULL;
}

/* ---- signal handler ---- */

static uint8_t signal_out[SIGNAL_MAX][OUTPUT_SIZE];
static unsigned int signal_n;
static bool signal_zero;

/* Every call draws; the first SIGNAL_MAX outputs are kept, the others only checked. */
static void handler(int sig)
{
	static const uint8_t zero[OUTPUT_SIZE];
	unsigned int i = __atomic_fetch_add(&signal_n, 1, __ATOMIC_RELAXED);
	uint8_t b[OUTPUT_SIZE];
	int saved = errno;

	(void)sig;
	snapsafe_random_buf(b, sizeof(b));
	if (i < SIGNAL_MAX)
		memcpy(signal_out[i], b, sizeof(b));
	else if (memcmp(b, zero, sizeof(b)) == 0)
		__atomic_store_n(&signal_zero, true, __ATOMIC_RELAXED);
	errno = saved;
}

/*
 * A timer aimed at one short-lived thread: its signals land in that thread's first request
 * (the slot allocation) and in its exit (the slot going back, the late destructor).
 */
static __thread timer_t thread_timer;

static void thread_timer_start(void)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec its = { { 0, THREAD_TIMER_US * 1000 }, { 0, THREAD_TIMER_US * 1000 } };

	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &thread_timer) != 0 ||
	    timer_settime(thread_timer, 0, &its, NULL) != 0)
		test_fail("timer: %m");
}

/* ---- drawers ---- */

/* Past DRAWER_MAX records a drawer keeps drawing (the load stays), checking only for zeros. */
static void drawer_keep(struct outputs *o, const uint8_t *b)
{
	static const uint8_t zero[OUTPUT_SIZE];

	if (o->n < DRAWER_MAX)
		outputs_add(o, b);
	else if (memcmp(b, zero, OUTPUT_SIZE) == 0)
		test_fail("an all-zero output");
}

static void *drawer_run(void *arg)
{
	struct outputs *o = arg;
	uint8_t big[8 * OUTPUT_SIZE + 3];

	for (unsigned long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		uint8_t b[OUTPUT_SIZE];

		snapsafe_random_buf(b, sizeof(b));
		drawer_keep(o, b);
		/* Every few: a request too large for the fast path. */
		if (i % 16 == 1) {
			snapsafe_random_buf(big, sizeof(big));
			for (int k = 0; k < 8; k++)
				drawer_keep(o, big + k * OUTPUT_SIZE);
		}
	}
	return NULL;
}

/* ---- threads that come and go, with destructors that draw ---- */

static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outputs churn_out;
static pthread_key_t late_key;
static unsigned long churned;

static void churn_add(const uint8_t *b)
{
	pthread_mutex_lock(&churn_lock);
	outputs_add(&churn_out, b);
	pthread_mutex_unlock(&churn_lock);
}

/* Runs after the library's own destructor gave this thread's slot back. */
static void late_destructor(void *arg)
{
	uint8_t b[OUTPUT_SIZE];

	(void)arg;
	/* Let threads that start meanwhile take slots, the one given back among them. */
	sched_yield();
	for (int i = 0; i < 2; i++) {
		snapsafe_random_buf(b, sizeof(b));
		churn_add(b);
	}
	/* The thread's last act: its timer must not outlive it. */
	timer_delete(thread_timer);
}

static void *churn_one(void *arg)
{
	uint8_t b[OUTPUT_SIZE];

	(void)arg;
	thread_timer_start();
	for (int i = 0; i < 4; i++) {
		snapsafe_random_buf(b, sizeof(b));
		churn_add(b);
	}
	pthread_setspecific(late_key, &late_key);
	return NULL;
}

/* CHURN_AT_ONCE threads at all times: each that ends is joined and replaced at once. */
static void *churn_run(void *arg)
{
	pthread_t t[CHURN_AT_ONCE];

	(void)arg;
	for (int i = 0; i < CHURN_AT_ONCE; i++)
		if (pthread_create(&t[i], NULL, churn_one, NULL) != 0)
			test_fail("pthread_create");
	for (unsigned int k = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); k++) {
		pthread_join(t[k % CHURN_AT_ONCE], NULL);
		if (pthread_create(&t[k % CHURN_AT_ONCE], NULL, churn_one, NULL) != 0)
			test_fail("pthread_create");
		churned++;
	}
	for (int i = 0; i < CHURN_AT_ONCE; i++)
		pthread_join(t[i], NULL);
	churned += CHURN_AT_ONCE;
	return NULL;
}

/* ---- fork children ---- */

static struct outputs fork_out;
static unsigned long forked;

/* Read @n whole records from @fd until EOF, at most until the deadline. */
static void read_records(int fd, pid_t pid)
{
	uint8_t buf[CHILD_DRAWS * OUTPUT_SIZE];
	uint64_t end = deadline_now_ms() + CHILD_MS;
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = deadline_now_ms();
		ssize_t n;

		if (now >= end) {
			kill(pid, SIGKILL);
			test_fail("a fork child sent nothing for %d ms: it is blocked (deadlock)",
				  CHILD_MS);
		}
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			test_fail("read: %m");
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == sizeof(buf))
			break;
	}
	if (have != sizeof(buf))
		test_fail("a fork child sent %zu bytes, not %zu", have, sizeof(buf));
	for (size_t i = 0; i < have; i += OUTPUT_SIZE)
		outputs_add(&fork_out, buf + i);
}

/* Forked from a process full of threads in the library: draws at once, sends the outputs. */
static void child_draw(void *fd)
{
	uint8_t b[CHILD_DRAWS * OUTPUT_SIZE];

	for (int i = 0; i < CHILD_DRAWS; i++)
		snapsafe_random_buf(b + i * OUTPUT_SIZE, OUTPUT_SIZE);
	if (write(*(int *)fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		_exit(1);
}

static void *forker_run(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		pid_t pid;
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			test_fail("pipe2: %m");
		pid = child_start(child_draw, &p[1]);
		close(p[1]);
		read_records(p[0], pid);
		close(p[0]);
		child_expect_exit0(pid, CHILD_MS, "drawing and sending its outputs");
		forked++;
	}
	return NULL;
}

TEST(test_everything_at_once_never_repeats)
{
	static struct outputs drawer_out[DRAWERS];
	struct itimerval it = { { 0, TIMER_US }, { 0, TIMER_US } };
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART };
	pthread_t drawers[DRAWERS], churner, forker;
	struct outputs all = { 0 };
	sigset_t alrm;
	uint64_t start;
	size_t repeats;

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < DRAWERS; i++)
		assert_eq(pthread_create(&drawers[i], NULL, drawer_run, &drawer_out[i]), 0);
	assert_eq(pthread_create(&churner, NULL, churn_run, NULL), 0);
	assert_eq(pthread_create(&forker, NULL, forker_run, NULL), 0);
	/* The timer's signals go to the threads that work; this one only keeps time. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	start = deadline_now_ms();
	while (deadline_now_ms() - start < RUN_MS) {
		struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };

		/* Not synchronisation: the length of the run, measured by the clock. */
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < DRAWERS; i++)
		pthread_join(drawers[i], NULL);
	pthread_join(churner, NULL);
	pthread_join(forker, NULL);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);

	for (int i = 0; i < DRAWERS; i++) {
		for (size_t k = 0; k < drawer_out[i].n; k++)
			outputs_add(&all, drawer_out[i].v[k]);
		outputs_free(&drawer_out[i]);
	}
	for (size_t k = 0; k < churn_out.n; k++)
		outputs_add(&all, churn_out.v[k]);
	for (size_t k = 0; k < fork_out.n; k++)
		outputs_add(&all, fork_out.v[k]);
	for (unsigned int k = 0; k < signal_n && k < SIGNAL_MAX; k++)
		outputs_add(&all, signal_out[k]);
	fprintf(stderr, "%zu outputs: %lu threads came and went, %zu from them and their "
		"destructors, %lu fork children, %u signal handlers (%u kept)\n", all.n, churned,
		churn_out.n, forked, signal_n, signal_n < SIGNAL_MAX ? signal_n : SIGNAL_MAX);
	assert_true(churned > 0 && forked > 0 && signal_n > 0);
	if (signal_zero)
		test_fail("a signal handler got an all-zero output");
	repeats = outputs_repeats(&all);
	if (repeats)
		test_fail("%zu repeated outputs", repeats);
	outputs_free(&all);
	outputs_free(&churn_out);
	outputs_free(&fork_out);
}

int main(void)
{
	uint8_t b[OUTPUT_SIZE];
	pthread_t watchdog;
	sigset_t alrm;

	/* The engine itself, not only the kernel: it is what could repeat. */
	policy_force_mode(ENGINE_ALWAYS);
	flag_init(&finished);
	/* The watchdog never takes the timer's signal. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	assert_eq(pthread_create(&watchdog, NULL, watchdog_run, NULL), 0);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	/* The library's key first, so ours is created after it and its destructor runs later. */
	snapsafe_random_buf(b, sizeof(b));
	assert_eq(pthread_key_create(&late_key, late_destructor), 0);
	RUN(test_everything_at_once_never_repeats);
	flag_raise(&finished);
	pthread_join(watchdog, NULL);
	return 0;
}
