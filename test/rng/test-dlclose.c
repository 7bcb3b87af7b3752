/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsnapsafe loaded with dlopen(), used by a thread, dlclose()d while that thread still
 * runs: when the thread exits, the library's per-thread cleanup must still be there to run
 * (the library is linked -z nodelete), and fork() afterwards must not call into unmapped
 * code either. Links nothing of libsnapsafe itself, so the dlopen() is the only reference.
 *
 * Usage: test-dlclose PATH-TO-LIBSNAPSAFE.so
 */
#include <dlfcn.h>
#include <pthread.h>

#include "deadline.h"
#include "test.h"

enum { WAIT_MS = 20000 };

typedef void random_buf_fn(void *buf, size_t len);

static const char *lib_path;
static random_buf_fn *random_buf;
static struct flag drawn, go;

static void *user_run(void *arg)
{
	static const uint8_t zero[32];
	uint8_t a[32], b[2048];

	(void)arg;
	random_buf(a, sizeof(a));
	random_buf(b, sizeof(b));
	if (memcmp(a, zero, sizeof(a)) == 0)
		test_fail("an all-zero output");
	flag_raise(&drawn);
	/* Exit only after the library was closed: its thread cleanup runs then. */
	flag_wait(&go, WAIT_MS, "the main thread to close the library");
	return NULL;
}

TEST(test_thread_exit_after_dlclose_is_safe)
{
	struct timespec ts;
	void *h;
	pthread_t t;
	pid_t pid;

	flag_init(&drawn);
	flag_init(&go);
	h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		test_fail("dlopen: %s", dlerror());
	random_buf = (random_buf_fn *)dlsym(h, "snapsafe_random_buf");
	if (!random_buf)
		test_fail("dlsym: %s", dlerror());
	assert_eq(pthread_create(&t, NULL, user_run, NULL), 0);
	flag_wait(&drawn, WAIT_MS, "the thread to draw through the loaded library");
	assert_eq(dlclose(h), 0);
	flag_raise(&go);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	if (pthread_timedjoin_np(t, NULL, &ts) != 0)
		test_fail("the thread did not exit within %d ms", WAIT_MS);
	/* fork() runs every registered fork handler: none may point into a closed library. */
	pid = fork();
	if (pid < 0)
		test_fail("fork: %m");
	if (pid == 0)
		_exit(0);
	child_expect_exit0(pid, WAIT_MS, "exiting after a fork");
}

int main(int argc, char **argv)
{
	if (argc != 2)
		test_fail("usage: %s PATH-TO-LIBSNAPSAFE.so", argv[0]);
	lib_path = argv[1];
	/* The engine itself, not only the kernel path, so the thread really holds a slot. */
	setenv("SNAPSAFE_ENGINE", "always", 1);
	RUN(test_thread_exit_after_dlclose_is_safe);
	return 0;
}
