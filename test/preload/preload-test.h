/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the shim's tests share: the check that the functions a test calls really are the
 * shim's (a test run without it would otherwise test glibc and pass), glibc's own functions
 * for comparison, and the test observation of libsnapsafe-preload-observed.so, found at run
 * time. Header only; the tests run with the shim in LD_PRELOAD (test/preload/meson.build).
 */
#ifndef SNAPSAFE_PRELOAD_TEST_H
#define SNAPSAFE_PRELOAD_TEST_H

#include <dlfcn.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "test.h"

/* Where @fn lives: the file name of the object that defines it. */
static inline const char *object_of(const void *fn)
{
	Dl_info info;

	if (!fn || !dladdr(fn, &info) || !info.dli_fname)
		return "(nowhere)";
	return info.dli_fname;
}

/* Fail unless @fn is defined in the shim (either variant). */
#define assert_from_shim(fn) do {						\
		const char *_o = object_of((const void *)(fn));			\
		if (!strstr(_o, "libsnapsafe-preload"))				\
			test_fail("%s comes from %s, not the shim (LD_PRELOAD?)", #fn, _o); \
	} while (0)

/*
 * The random functions of this process are the shim's. Not vfork: under ASan the sanitizer's
 * vfork wrapper comes first and calls the shim's; the fork test proves the shim's ran.
 */
static inline void assert_interposed(void)
{
	assert_from_shim(getrandom);
	assert_from_shim(getentropy);
	assert_from_shim(arc4random);
	assert_from_shim(arc4random_buf);
	assert_from_shim(arc4random_uniform);
}

/* glibc's own functions, looked up in libc.so.6 itself rather than in the global scope. */
struct real {
	ssize_t (*getrandom)(void *buf, size_t len, unsigned int flags);
	int (*getentropy)(void *buf, size_t len);
	uint32_t (*arc4random)(void);
	void (*arc4random_buf)(void *buf, size_t len);
	uint32_t (*arc4random_uniform)(uint32_t upper_bound);
};

static inline void *real_lookup(void *libc, const char *name)
{
	void *fn = dlsym(libc, name);

	if (!fn || !strstr(object_of(fn), "libc.so"))
		test_fail("glibc's %s not found in libc.so.6 (found in %s)", name, object_of(fn));
	return fn;
}

static inline struct real real_functions(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	struct real r;

	if (!libc)
		test_fail("libc.so.6 is not loaded: %s", dlerror());
	r.getrandom = (ssize_t (*)(void *, size_t, unsigned int))real_lookup(libc, "getrandom");
	r.getentropy = (int (*)(void *, size_t))real_lookup(libc, "getentropy");
	r.arc4random = (uint32_t (*)(void))real_lookup(libc, "arc4random");
	r.arc4random_buf = (void (*)(void *, size_t))real_lookup(libc, "arc4random_buf");
	r.arc4random_uniform = (uint32_t (*)(uint32_t))real_lookup(libc, "arc4random_uniform");
	return r;
}

/* The observation that only libsnapsafe-preload-observed.so exports (test/preload/observe.c). */
struct observe {
	int (*peek)(void *out, size_t n);
	int (*has_state)(void);
	uint64_t (*nested_calls)(void);
	unsigned int (*vfork_depth)(void);
	void (*disable_vdso)(void);
};

static inline void *observe_lookup(const char *name)
{
	void *fn = dlsym(RTLD_DEFAULT, name);

	if (!fn)
		test_fail("%s not found: the test needs the observed shim in LD_PRELOAD", name);
	return fn;
}

static inline struct observe observe_functions(void)
{
	struct observe o;

	o.peek = (int (*)(void *, size_t))observe_lookup("preload_observe_peek");
	o.has_state = (int (*)(void))observe_lookup("preload_observe_has_state");
	o.nested_calls = (uint64_t (*)(void))observe_lookup("preload_observe_nested_calls");
	o.vfork_depth = (unsigned int (*)(void))observe_lookup("preload_observe_vfork_depth");
	o.disable_vdso = (void (*)(void))observe_lookup("preload_observe_disable_vdso");
	return o;
}

/*
 * peek_next() - the next @n bytes this thread's engine will serve, drawing through
 * getrandom() until it holds that many. The engine must be serving (SNAPSAFE_ENGINE=always).
 */
static inline void peek_next(const struct observe *o, void *out, size_t n)
{
	uint8_t b[16];

	for (int i = 0; o->peek(out, n) != 0; i++) {
		if (i > 200)
			test_fail("the engine never held %zu unserved bytes: is it serving?", n);
		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
			test_fail("getrandom: %s", strerror(errno));
	}
}

/* @handler runs on SIGALRM every @usec microseconds, from now on; 0 stops the timer. */
static inline void alarm_every(void (*handler)(int), long usec)
{
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, usec }, { 0, usec } };

	if (usec && sigaction(SIGALRM, &sa, NULL) < 0)
		test_fail("sigaction: %s", strerror(errno));
	if (setitimer(ITIMER_REAL, &it, NULL) < 0)
		test_fail("setitimer: %s", strerror(errno));
}

/*
 * refuse_syscalls() - from now on, in this process and its children, system call @nr fails
 * with @err, and @nr2 (unless it is -1) with @err2. Exits 77 (skip) where seccomp filters
 * are not available. The caller checks that the refusal works before it counts on it.
 */
static inline void refuse_syscalls(int nr, int err, int nr2, int err2)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err2),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		test_skip("seccomp filters are not available: %s", strerror(errno));
}

static inline bool engine_expected(void)
{
	const char *e = getenv("SNAPSAFE_ENGINE");

	return e && strcmp(e, "always") == 0;
}

#endif
