/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a caller of the random functions may rely on besides the bytes, on the library's
 * first call in a process, when it initialises itself (opens and maps the generation
 * sources):
 *   errno   a successful call leaves errno as it was, although looking for the daemon's
 *           page fails with ENOENT on the way;
 *   cancel  the calls are not cancellation points: a thread with a cancel pending comes
 *           back from its first call (open() inside it must not act on the cancel, which
 *           would end the thread holding the one-time initialisation for good and leave
 *           every later request of the process to the kernel).
 * Usage: test-entry-points errno|cancel
 */
#include <pthread.h>

#include "policy.h"
#include "rng.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

TEST(test_success_leaves_errno_alone)
{
	uint8_t buf[64];

	errno = EDOM;
	snapsafe_random_buf(buf, sizeof(buf));
	assert_eq(errno, EDOM);
	errno = ERANGE;
	assert_eq(snapsafe_getrandom(buf, sizeof(buf), 0), (long long)sizeof(buf));
	assert_eq(errno, ERANGE);
	errno = EXDEV;
	(void)snapsafe_random_u64();
	assert_eq(errno, EXDEV);
}

static volatile int came_back;

static void *draw_with_a_cancel_pending(void *arg)
{
	uint8_t buf[32];

	(void)arg;
	pthread_cancel(pthread_self());
	snapsafe_random_buf(buf, sizeof(buf));
	came_back = 1;
	/*
	 * The cancel stays pending and is never acted on: a thread unwound by a cancel leaves
	 * AddressSanitizer's stack bookkeeping behind it, and only a cancel inside the call
	 * is what this test is about.
	 */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	return NULL;
}

TEST(test_first_call_is_not_a_cancellation_point)
{
	uint8_t buf[32];
	uint64_t before;
	pthread_t th;
	void *ret;

	assert_eq(pthread_create(&th, NULL, draw_with_a_cancel_pending, NULL), 0);
	assert_eq(pthread_join(th, &ret), 0);
	if (!came_back || ret == PTHREAD_CANCELED)
		test_fail("the thread was cancelled inside snapsafe_random_buf()");
	/* And the initialisation it ran is done: this thread's engine serves. */
	before = rng_thread_engine_requests();
	snapsafe_random_buf(buf, sizeof(buf) - 1);
	assert_eq(rng_thread_engine_requests(), before + 1);
}

int main(int argc, char **argv)
{
	/* A runtime directory that does not exist: the page lookup fails, with ENOENT. */
	setenv("SNAPSAFE_RUNTIME_DIR", "/nonexistent/snapsafe-test", 1);
	policy_force_mode(ENGINE_ALWAYS);
	if (argc > 1 && strcmp(argv[1], "errno") == 0)
		RUN(test_success_leaves_errno_alone);
	else if (argc > 1 && strcmp(argv[1], "cancel") == 0)
		RUN(test_first_call_is_not_a_cancellation_point);
	else
		test_fail("usage: %s errno|cancel", argv[0]);
	return 0;
}
