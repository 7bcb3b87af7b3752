/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shim answers as glibc 2.36 and the kernel do. Each case calls glibc's own function (from
 * libc.so.6) and the shim's with the same arguments and compares the return value and errno:
 * getrandom's flags (unknown ones and GRND_RANDOM | GRND_INSECURE are EINVAL), lengths from 0
 * up, bad buffers (EFAULT; a buffer valid only in part gets the kernel's short count for a
 * request the kernel shortens), getentropy's 256-byte limit (EIO above), arc4random_uniform's
 * bounds and its lack of bias, errno left alone on success, and which of them are cancellation
 * points (getrandom only).
 * A seccomp filter then proves that what the engine must not answer reaches the getrandom
 * system call: the filter's errno comes back.
 *
 * Modes: "semantics" (the default); "abort": with the getrandom syscall, the device files
 * and the vDSO all refused, the arc4random family aborts as glibc's does (the observed shim,
 * for its switch that keeps the vDSO out); "cancel FUNCTION glibc|shim", a process of the
 * cancellation case.
 */
#include <math.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "deadline.h"
#include "preload-test.h"

struct ans {
	long r;
	int err;
};

/* Evaluate @call with errno cleared: its return value and the errno it left. */
#define answer(call) ({ errno = 0; long _r = (long)(call); (struct ans){ _r, errno }; })

/*
 * Both sets are called through pointers: the compiler knows glibc's declarations and would
 * refuse the bad arguments these tests pass on purpose.
 */
static struct real shim, real;

/* The shim and glibc must agree: the same return value, and on failure the same errno. */
static void same(const char *what, struct ans ours, struct ans glibc)
{
	if (ours.r != glibc.r || (ours.r < 0 && ours.err != glibc.err))
		test_fail("%s: the shim answers %ld (%s), glibc %ld (%s)", what, ours.r,
			  strerror(ours.err), glibc.r, strerror(glibc.err));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A mapping of @size bytes that nothing may touch: any write to it faults. */
static void *inaccessible(size_t size)
{
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	return p;
}

/* One writable page followed by one that faults. */
static uint8_t *page_then_hole(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p = inaccessible((size_t)page * 2);

	if (mprotect(p, (size_t)page, PROT_READ | PROT_WRITE) < 0)
		test_fail("mprotect: %s", strerror(errno));
	return p;
}

/* Runs first, in a fresh process: the engine's first request looks for files that are not there. */
TEST(test_errno_left_alone_on_success)
{
	const struct real *sets[] = { &shim, &real };
	uint8_t b[64];

	for (int i = 0; i < 2; i++) {
		const struct real *f = sets[i];

		errno = EXDEV;
		assert_eq(f->getrandom(b, 16, 0), 16);
		assert_eq(f->getrandom(b, 16, GRND_NONBLOCK), 16);
		assert_eq(f->getrandom(b, 64, GRND_INSECURE), 64);
		assert_eq(f->getentropy(b, 32), 0);
		(void)f->arc4random();
		f->arc4random_buf(b, sizeof(b));
		(void)f->arc4random_uniform(1000);
		if (errno != EXDEV)
			test_fail("%s changed errno to %s on success", i ? "glibc" : "the shim",
				  strerror(errno));
	}
}

TEST(test_getrandom_flags_as_the_kernel)
{
	static const unsigned int valid[] = {
		0, GRND_NONBLOCK, GRND_INSECURE, GRND_NONBLOCK | GRND_INSECURE, GRND_RANDOM,
		GRND_RANDOM | GRND_NONBLOCK,
	};
	static const unsigned int invalid[] = {
		GRND_RANDOM | GRND_INSECURE, GRND_RANDOM | GRND_INSECURE | GRND_NONBLOCK,
		0x8, 0x40, 0x8 | GRND_NONBLOCK, 1u << 31, ~0u,
	};
	uint8_t b[48];
	char what[64];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		snprintf(what, sizeof(what), "getrandom(b, 48, %#x)", valid[i]);
		same(what, answer(shim.getrandom(b, sizeof(b), valid[i])),
		     answer(real.getrandom(b, sizeof(b), valid[i])));
		assert_eq(shim.getrandom(b, sizeof(b), valid[i]), sizeof(b));
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct ans a = answer(shim.getrandom(b, sizeof(b), invalid[i]));

		snprintf(what, sizeof(what), "getrandom(b, 48, %#x)", invalid[i]);
		same(what, a, answer(real.getrandom(b, sizeof(b), invalid[i])));
		assert_eq(a.r, -1);
		assert_eq(a.err, EINVAL);
	}
}

TEST(test_getrandom_lengths_as_the_kernel)
{
	static const size_t lengths[] = {
		1, 2, 15, 16, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4096, 65536,
		1 << 20,
	};
	uint8_t *b = malloc(1 << 20);
	char what[64];

	assert_true(b != NULL);
	/* Zero bytes: 0, whatever the buffer. */
	same("getrandom(NULL, 0, 0)", answer(shim.getrandom(NULL, 0, 0)),
	     answer(real.getrandom(NULL, 0, 0)));
	assert_eq(shim.getrandom(NULL, 0, 0), 0);
	assert_eq(shim.getrandom(NULL, 0, GRND_NONBLOCK), 0);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t n = lengths[i];

		snprintf(what, sizeof(what), "getrandom(b, %zu, 0)", n);
		memset(b, 0, n);
		same(what, answer(shim.getrandom(b, n, 0)), answer(real.getrandom(b, n, 0)));
		memset(b, 0, n);
		assert_eq(shim.getrandom(b, n, 0), n);
		if (n >= 16)
			assert_true(!all_zero(b, n));
	}
	free(b);
}

TEST(test_getrandom_bad_buffers_efault)
{
	static const uintptr_t bad[] = {
		0, 1, 4096, 0xffff800000000000ull, 0xffffffffff600000ull, (uintptr_t)-16,
	};
	void *hole = inaccessible(((size_t)1 << 30) + 4096);
	char what[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p = (void *)bad[i];
		struct ans a = answer(shim.getrandom(p, 32, 0));

		snprintf(what, sizeof(what), "getrandom(%p, 32, 0)", p);
		same(what, a, answer(real.getrandom(p, 32, 0)));
		assert_eq(a.r, -1);
		assert_eq(a.err, EFAULT);
		snprintf(what, sizeof(what), "getrandom(%p, 4096, GRND_NONBLOCK)", p);
		same(what, answer(shim.getrandom(p, 4096, GRND_NONBLOCK)),
		     answer(real.getrandom(p, 4096, GRND_NONBLOCK)));
	}
	/* 1 GiB or more: the kernel's request, whatever the buffer; here nothing can be written. */
	same("getrandom(hole, 1 GiB, 0)", answer(shim.getrandom(hole, (size_t)1 << 30, 0)),
	     answer(real.getrandom(hole, (size_t)1 << 30, 0)));
	assert_eq(shim.getrandom(hole, (size_t)1 << 30, 0), -1);
	munmap(hole, ((size_t)1 << 30) + 4096);
}

/*
 * A request the kernel shortens (it caps one call at 2 GiB less a page) over a buffer that
 * faults after its first page: the kernel writes the page and returns its size. So must the
 * shim, which leaves such requests to the kernel.
 */
TEST(test_getrandom_short_count_as_the_kernel)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p = page_then_hole();

	same("getrandom(page, SIZE_MAX, 0)", answer(shim.getrandom(p, SIZE_MAX, 0)),
	     answer(real.getrandom(p, SIZE_MAX, 0)));
	memset(p, 0, (size_t)page);
	assert_eq(shim.getrandom(p, SIZE_MAX, 0), page);
	assert_true(!all_zero(p, (size_t)page));
	assert_eq(shim.getrandom(p, (size_t)1 << 30, 0), page);
	munmap(p, (size_t)page * 2);
}

/*
 * The one documented difference (docs/retrofit.md): below 1 GiB the engine (or the vDSO)
 * writes the buffer from user space, so a buffer that faults part-way stops the program with
 * SIGSEGV (a sanitizer turns that into its report and SIGABRT), where glibc 2.36's system
 * call returns the bytes it could write.
 */
TEST(test_partly_bad_buffer_faults_as_documented)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p = page_then_hole();
	int status;
	pid_t pid;

	assert_eq(real.getrandom(p, (size_t)page * 2, 0), page);
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		(void)shim.getrandom(p, (size_t)page * 2, 0);
		_exit(0);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		test_fail("the shim returned for a buffer that faults part-way (status %#x): "
			  "docs/retrofit.md says it faults", status);
	munmap(p, (size_t)page * 2);
}

TEST(test_getentropy_sizes_as_glibc)
{
	static const size_t lengths[] = { 0, 1, 16, 32, 255, 256, 257, 1000, SIZE_MAX };
	uint8_t b[1024];
	char what[64];

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t n = lengths[i];
		struct ans a;

		snprintf(what, sizeof(what), "getentropy(b, %zu)", n);
		memset(b, 0, sizeof(b));
		a = answer(shim.getentropy(b, n));
		same(what, a, answer(real.getentropy(b, n)));
		if (n <= 256) {
			assert_eq(a.r, 0);
			if (n >= 16)
				assert_true(!all_zero(b, n));
		} else {
			assert_eq(a.r, -1);
			assert_eq(a.err, EIO);
		}
	}
	same("getentropy(NULL, 0)", answer(shim.getentropy(NULL, 0)),
	     answer(real.getentropy(NULL, 0)));
	same("getentropy(NULL, 16)", answer(shim.getentropy(NULL, 16)),
	     answer(real.getentropy(NULL, 16)));
	assert_eq(answer(shim.getentropy(NULL, 16)).err, EFAULT);
	same("getentropy(1, 16)", answer(shim.getentropy((void *)1, 16)),
	     answer(real.getentropy((void *)1, 16)));
	same("getentropy(NULL, 257)", answer(shim.getentropy(NULL, 257)),
	     answer(real.getentropy(NULL, 257)));
}

TEST(test_arc4random_buf_fills)
{
	static const size_t lengths[] = { 1, 4, 16, 100, 4096, 65536, 1 << 20 };
	uint8_t *b = malloc(1 << 20);

	assert_true(b != NULL);
	/* Zero bytes: nothing happens, not even to a NULL buffer (glibc alike). */
	shim.arc4random_buf(NULL, 0);
	real.arc4random_buf(NULL, 0);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		memset(b, 0, lengths[i]);
		shim.arc4random_buf(b, lengths[i]);
		if (lengths[i] >= 16)
			assert_true(!all_zero(b, lengths[i]));
	}
	free(b);
}

TEST(test_arc4random_covers_every_bit)
{
	uint32_t any = 0, all = ~0u;

	for (int i = 0; i < 1000; i++) {
		uint32_t v = shim.arc4random();

		any |= v;
		all &= v;
	}
	assert_eq(any, 0xffffffffu);
	assert_eq(all, 0);
}

TEST(test_arc4random_uniform_bounds)
{
	bool seen[2] = { false, false };

	assert_eq(shim.arc4random_uniform(0), 0);
	assert_eq(shim.arc4random_uniform(1), 0);
	assert_eq(real.arc4random_uniform(0), 0);
	assert_eq(real.arc4random_uniform(1), 0);
	for (int i = 0; i < 200; i++) {
		uint32_t v = shim.arc4random_uniform(2);

		assert_true(v < 2);
		seen[v] = true;
	}
	assert_true(seen[0] && seen[1]);
	for (int i = 0; i < 1000; i++) {
		assert_true(shim.arc4random_uniform(UINT32_MAX) < UINT32_MAX);
		assert_true(shim.arc4random_uniform(3) < 3);
		assert_true(shim.arc4random_uniform(1u << 31) < 1u << 31);
	}
}

/*
 * Unbiased: with bound 0xaaaaaaab, 2^32 mod bound = 0x55555555 is about half the bound, so a
 * plain remainder would give values below 0x55555555 twice as often as the rest (about 2/3
 * of the results instead of 1/2). 200000 draws put an unbiased fraction within 0.01 of 1/2
 * (9 standard deviations).
 */
static void check_unbiased(uint32_t (*uniform)(uint32_t), const char *who)
{
	const uint32_t bound = 0xaaaaaaabu, low = 0x55555555u;
	enum { N = 200000 };
	unsigned int below = 0;
	double f;

	for (int i = 0; i < N; i++) {
		uint32_t v = uniform(bound);

		if (v >= bound)
			test_fail("%s: arc4random_uniform(%#x) returned %#x", who, bound, v);
		below += v < low;
	}
	f = (double)below / N;
	fprintf(stderr, "%s: %.4f of the results below 0x55555555 (unbiased: 0.5000)\n", who, f);
	if (fabs(f - (double)low / bound) > 0.01)
		test_fail("%s: arc4random_uniform is biased", who);
}

TEST(test_arc4random_uniform_unbiased)
{
	check_unbiased(shim.arc4random_uniform, "the shim");
	check_unbiased(real.arc4random_uniform, "glibc");
}

/*
 * Cancellation points. A fresh process (this program again, mode "cancel") makes one thread
 * cancel itself, which leaves the cancellation pending, and then call one function once: the
 * process's first random request. That runs the engine's one-time initialisation, which opens
 * files, and open() is a cancellation point: a function that is not one must keep
 * cancellation off around the engine. Exit 0: the call returned; 10: the cancellation acted
 * inside it.
 */
enum { CANCELLED_INSIDE = 10 };

struct cancel_case {
	const struct real *fn;
	const char *name;
	volatile int returned;
};

static void *call_cancelled(void *arg)
{
	struct cancel_case *c = arg;
	uint8_t b[16];

	assert_eq(pthread_cancel(pthread_self()), 0);
	if (strcmp(c->name, "getrandom") == 0)
		(void)c->fn->getrandom(b, sizeof(b), 0);
	else if (strcmp(c->name, "getentropy") == 0)
		(void)c->fn->getentropy(b, sizeof(b));
	else if (strcmp(c->name, "arc4random") == 0)
		(void)c->fn->arc4random();
	else if (strcmp(c->name, "arc4random_buf") == 0)
		c->fn->arc4random_buf(b, sizeof(b));
	else if (strcmp(c->name, "arc4random_uniform") == 0)
		(void)c->fn->arc4random_uniform(1000);
	else
		test_fail("no function %s", c->name);
	c->returned = 1;
	return NULL;
}

static int cancel_child(const char *name, const char *who)
{
	struct cancel_case c = { .fn = strcmp(who, "glibc") == 0 ? &real : &shim, .name = name };
	pthread_t t;
	void *ret;

	assert_eq(pthread_create(&t, NULL, call_cancelled, &c), 0);
	assert_eq(pthread_join(t, &ret), 0);
	if (c.returned)
		return 0;
	assert_true(ret == PTHREAD_CANCELED);
	return CANCELLED_INSIDE;
}

/* getrandom is a cancellation point in glibc; getentropy and the arc4random family are not. */
TEST(test_cancellation_points_as_glibc)
{
	static const char *const names[] = {
		"getrandom", "getentropy", "arc4random", "arc4random_buf", "arc4random_uniform",
	};
	static const char *const whos[] = { "glibc", "shim" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (size_t w = 0; w < 2; w++) {
			char *argv[] = { (char *)"test-preload-semantics", (char *)"cancel",
					 (char *)names[i], (char *)whos[w], NULL };
			int want = i == 0 ? CANCELLED_INSIDE : 0, status;
			pid_t pid = fork();

			if (pid < 0)
				test_fail("fork: %s", strerror(errno));
			if (pid == 0) {
				execv("/proc/self/exe", argv);
				_exit(127);
			}
			assert_eq(waitpid(pid, &status, 0), pid);
			if (!WIFEXITED(status) ||
			    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != CANCELLED_INSIDE))
				test_fail("%s's %s, a cancellation pending: status %#x",
					  whos[w], names[i], status);
			if (WEXITSTATUS(status) != want)
				test_fail("%s's %s %s a cancellation point", whos[w], names[i],
					  want ? "is not" : "is");
		}
	}
}

/* Make the getrandom system call fail with @err; with @open_err, openat too. */
static void refuse(int err, int open_err)
{
	uint8_t b[4];

	refuse_syscalls(SYS_getrandom, err, open_err ? SYS_openat : -1, open_err);
	/* A filter that does nothing must not let a case pass. */
	errno = 0;
	if (syscall(SYS_getrandom, b, sizeof(b), 0) != -1 || errno != err)
		test_fail("the filter did not make getrandom fail with %s", strerror(err));
}

static void expect_syscall(const char *what, struct ans a)
{
	if (a.r != -1 || a.err != ENOTTY)
		test_fail("%s answered %ld (%s) without asking the getrandom system call", what,
			  a.r, strerror(a.err));
}

static void kernel_answers(void *unused)
{
	uint8_t b[64];
	void *hole = inaccessible(((size_t)1 << 30) + 4096);

	(void)unused;
	/* Seed the engine first: afterwards it serves without any system call. */
	assert_eq(shim.getrandom(b, 16, 0), 16);
	refuse(ENOTTY, 0);
	expect_syscall("glibc's getrandom(b, 16, 0)", answer(real.getrandom(b, 16, 0)));
	if (engine_expected())
		assert_eq(shim.getrandom(b, 16, 0), 16);
	expect_syscall("getrandom(b, 16, GRND_RANDOM)",
		       answer(shim.getrandom(b, 16, GRND_RANDOM)));
	expect_syscall("getrandom(b, 16, GRND_RANDOM | GRND_NONBLOCK)",
		       answer(shim.getrandom(b, 16, GRND_RANDOM | GRND_NONBLOCK)));
	expect_syscall("getrandom(b, 16, 0x8)", answer(shim.getrandom(b, 16, 0x8)));
	expect_syscall("getrandom(b, 16, GRND_RANDOM | GRND_INSECURE)",
		       answer(shim.getrandom(b, 16, GRND_RANDOM | GRND_INSECURE)));
	expect_syscall("getrandom(b, 0, 0)", answer(shim.getrandom(b, 0, 0)));
	expect_syscall("getrandom(NULL, 16, 0)", answer(shim.getrandom(NULL, 16, 0)));
	expect_syscall("getrandom(hole, 1 GiB, 0)",
		       answer(shim.getrandom(hole, (size_t)1 << 30, 0)));
	expect_syscall("getentropy(NULL, 16)", answer(shim.getentropy(NULL, 16)));
	/* Above 256 bytes getentropy answers EIO itself, as glibc does. */
	assert_eq(answer(shim.getentropy(b, 257)).err, EIO);
}

TEST(test_what_the_engine_must_not_answer_reaches_the_syscall)
{
	child_expect_exit0(child_start(kernel_answers, NULL), 60000,
			   "checking which requests reach the system call");
}

/* ---- "abort" ------------------------------------------------------------ */

enum which { SHIM_ARC4RANDOM, SHIM_BUF, SHIM_UNIFORM, SHIM_IN_VFORK, GLIBC_ARC4RANDOM, GLIBC_BUF };

static void nothing_works_then(void *arg)
{
	enum which w = (enum which)(intptr_t)arg;
	struct observe o = observe_functions();
	uint8_t b[16];
	pid_t pid;
	int status;

	o.disable_vdso();
	refuse(ENOSYS, EACCES);
	switch (w) {
	case SHIM_ARC4RANDOM:
		(void)shim.arc4random();
		break;
	case SHIM_BUF:
		shim.arc4random_buf(b, sizeof(b));
		break;
	case SHIM_UNIFORM:
		(void)shim.arc4random_uniform(10);
		break;
	case SHIM_IN_VFORK:
		/* The vfork child's own way to the kernel aborts too. */
		pid = vfork();
		if (pid == 0) {
			(void)shim.arc4random();
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			_exit(3);
		if (WIFSIGNALED(status))
			raise(WTERMSIG(status));
		break;
	case GLIBC_ARC4RANDOM:
		(void)real.arc4random();
		break;
	case GLIBC_BUF:
		real.arc4random_buf(b, sizeof(b));
		break;
	}
	/* Returned: bytes from nowhere. */
	_exit(2);
}

TEST(test_arc4random_aborts_when_nothing_works)
{
	static const char *const names[] = {
		"the shim's arc4random", "the shim's arc4random_buf",
		"the shim's arc4random_uniform", "the shim's arc4random in a vfork child",
		"glibc's arc4random", "glibc's arc4random_buf",
	};

	for (int w = SHIM_ARC4RANDOM; w <= GLIBC_BUF; w++) {
		pid_t pid = child_start(nothing_works_then, (void *)(intptr_t)w);
		int status;

		if (!child_wait_until(pid, deadline_now_ms() + 30000, &status)) {
			kill(pid, SIGKILL);
			test_fail("%s hung with every way to the kernel refused", names[w]);
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEST_SKIP)
			test_skip("seccomp filters are not available");
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			test_fail("%s, every way to the kernel refused: status %#x, not SIGABRT",
				  names[w], status);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "semantics";

	assert_interposed();
	real = real_functions();
	shim = (struct real){
		getrandom, getentropy, arc4random, arc4random_buf, arc4random_uniform,
	};
	if (strcmp(mode, "cancel") == 0 && argc == 4)
		return cancel_child(argv[2], argv[3]);
	if (strcmp(mode, "abort") == 0) {
		RUN(test_arc4random_aborts_when_nothing_works);
		return 0;
	}
	if (strcmp(mode, "semantics") != 0)
		test_fail("unknown mode %s", mode);
	RUN(test_errno_left_alone_on_success);
	RUN(test_getrandom_flags_as_the_kernel);
	RUN(test_getrandom_lengths_as_the_kernel);
	RUN(test_getrandom_bad_buffers_efault);
	RUN(test_getrandom_short_count_as_the_kernel);
	RUN(test_partly_bad_buffer_faults_as_documented);
	RUN(test_getentropy_sizes_as_glibc);
	RUN(test_arc4random_buf_fills);
	RUN(test_arc4random_covers_every_bit);
	RUN(test_arc4random_uniform_bounds);
	RUN(test_arc4random_uniform_unbiased);
	RUN(test_cancellation_points_as_glibc);
	RUN(test_what_the_engine_must_not_answer_reaches_the_syscall);
	return 0;
}
