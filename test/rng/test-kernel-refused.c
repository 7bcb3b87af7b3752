/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When a seccomp filter (or a kernel before 3.17) refuses the getrandom syscall, the
 * library still gets its bytes from the kernel, through /dev/urandom once /dev/random
 * says the pool is ready; and when the device files are refused too, the functions
 * that cannot fail abort instead of spinning or returning weak bytes. Each case runs
 * in a child that installs its own filter; the test first checks that the filter
 * really makes getrandom fail, so a filter that does nothing cannot pass it.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel-random.h"
#include "policy.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

/* Make getrandom fail with @err, and also openat with EACCES when @deny_open. */
static void refuse(int err, bool deny_open)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, deny_open ? SECCOMP_RET_ERRNO | EACCES : SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	uint8_t b[4];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		test_skip("seccomp filters are not available: %m");
	/* The vDSO would serve without a syscall: the test is about the syscall path. */
	kernel_random_disable_vdso();
	errno = 0;
	if (syscall(SYS_getrandom, b, sizeof(b), 0) != -1 || errno != err)
		test_fail("the filter did not make getrandom fail with %d", err);
}

/* Run @body in a child after refuse(); return the child's wait status. */
static int in_child(int err, bool deny_open, void (*body)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		test_fail("fork: %m");
	if (pid == 0) {
		refuse(err, deny_open);
		body();
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		test_fail("waitpid: %m");
	return status;
}

static void draws_differ_and_fill(void)
{
	static uint8_t a[5000], b[5000];

	/* Small (the engine's seed) and large (the kernel directly, GRND_RANDOM) requests. */
	assert_eq(snapsafe_getrandom(a, 48, 0), 48);
	assert_eq(snapsafe_getrandom(b, 48, 0), 48);
	assert_true(memcmp(a, b, 48) != 0);
	assert_eq(snapsafe_getrandom(a, sizeof(a), GRND_RANDOM), sizeof(a));
	assert_eq(snapsafe_getrandom(b, sizeof(b), GRND_RANDOM), sizeof(b));
	assert_true(memcmp(a + sizeof(a) - 32, b + sizeof(b) - 32, 32) != 0);
	snapsafe_random_buf(a, sizeof(a));
	snapsafe_random_buf(b, sizeof(b));
	assert_true(memcmp(a + sizeof(a) - 32, b + sizeof(b) - 32, 32) != 0);
}

static void random_buf(void)
{
	uint8_t b[32];

	snapsafe_random_buf(b, sizeof(b));
}

TEST(test_getrandom_enosys_falls_back_to_the_device_files)
{
	int status = in_child(ENOSYS, false, draws_differ_and_fill);

	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(test_getrandom_eperm_falls_back_to_the_device_files)
{
	int status = in_child(EPERM, false, draws_differ_and_fill);

	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(test_no_way_to_the_kernel_aborts_random_buf)
{
	int status = in_child(ENOSYS, true, random_buf);

	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

TEST(test_no_way_to_the_kernel_is_an_error_for_getrandom)
{
	uint8_t b[16];
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		refuse(ENOSYS, true);
		errno = 0;
		if (snapsafe_getrandom(b, sizeof(b), 0) != -1 || errno != EACCES)
			_exit(1);
		_exit(0);
	}
	assert_true(waitpid(pid, &status, 0) == pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	/* The engine opted in: its seed comes through the same refused path. */
	policy_force_mode(ENGINE_ALWAYS);
	RUN(test_getrandom_enosys_falls_back_to_the_device_files);
	RUN(test_getrandom_eperm_falls_back_to_the_device_files);
	RUN(test_no_way_to_the_kernel_aborts_random_buf);
	RUN(test_no_way_to_the_kernel_is_an_error_for_getrandom);
	return 0;
}
