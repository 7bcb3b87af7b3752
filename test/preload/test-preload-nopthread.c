/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A program built without -pthread (test/preload/meson.build gives it no threads dependency):
 * the shim's engine uses a pthread key and initial-exec TLS, which glibc 2.34 and later has in
 * libc itself. Every interposed function is served by the engine (the observed shim's peek,
 * SNAPSAFE_ENGINE=always), in the program and in a fork child, and a vfork child is served.
 */
#include <sys/wait.h>

#include "preload-test.h"

static void check_engine_serves(const struct observe *o)
{
	uint8_t want[32], b[32];
	uint32_t v;

	peek_next(o, want, sizeof(want));
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	assert_mem_eq(b, want, sizeof(b));
	peek_next(o, want, sizeof(want));
	assert_eq(getentropy(b, sizeof(b)), 0);
	assert_mem_eq(b, want, sizeof(b));
	peek_next(o, want, sizeof(want));
	arc4random_buf(b, sizeof(b));
	assert_mem_eq(b, want, sizeof(b));
	peek_next(o, want, sizeof(v));
	v = arc4random();
	assert_mem_eq(&v, want, sizeof(v));
	assert_true(arc4random_uniform(7) < 7);
}

TEST(test_without_pthread_the_engine_serves)
{
	struct observe o = observe_functions();
	static volatile ssize_t vfork_got;
	static uint8_t vfork_bytes[16];
	uint8_t next[16], b[16];
	int status;
	pid_t pid;

	check_engine_serves(&o);
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		check_engine_serves(&o);
		_exit(0);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_eq(status, 0);

	peek_next(&o, next, sizeof(next));
	pid = vfork();
	if (pid == 0) {
		vfork_got = getrandom(vfork_bytes, sizeof(vfork_bytes), 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_eq(status, 0);
	assert_eq(vfork_got, 16);
	assert_eq(getrandom(b, sizeof(b), 0), sizeof(b));
	assert_mem_eq(b, next, sizeof(b));
}

int main(void)
{
	if (!engine_expected())
		test_fail("this test needs SNAPSAFE_ENGINE=always in the environment");
	assert_interposed();
	RUN(test_without_pthread_the_engine_serves);
	return 0;
}
