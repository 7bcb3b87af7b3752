/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test helper: assertions that print where and what, and the exit codes
 * meson understands (0 pass, 77 skip, anything else fail). Header only.
 */
#ifndef SNAPSAFE_TEST_H
#define SNAPSAFE_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TEST_SKIP 77

#define test_fail(...) do {							\
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);		\
		fprintf(stderr, __VA_ARGS__);					\
		fputc('\n', stderr);						\
		exit(EXIT_FAILURE);						\
	} while (0)

#define test_skip(...) do {							\
		fprintf(stderr, "SKIP: ");					\
		fprintf(stderr, __VA_ARGS__);					\
		fputc('\n', stderr);						\
		exit(EXIT_TEST_SKIP);						\
	} while (0)

#define assert_true(expr) do {							\
		if (!(expr))							\
			test_fail("assertion '%s' is false", #expr);		\
	} while (0)

#define assert_eq(a, b) do {							\
		long long _a = (long long)(a), _b = (long long)(b);		\
		if (_a != _b)							\
			test_fail("%s == %lld, expected %s == %lld", #a, _a, #b, _b); \
	} while (0)

#define assert_ne(a, b) do {							\
		long long _a = (long long)(a), _b = (long long)(b);		\
		if (_a == _b)							\
			test_fail("%s == %s == %lld, expected them to differ", #a, #b, _a); \
	} while (0)

#define assert_mem_eq(a, b, n) do {						\
		if (memcmp((a), (b), (n)) != 0)					\
			test_fail("%s and %s differ in their first %zu bytes", #a, #b, (size_t)(n)); \
	} while (0)

/* A named test case: prints its name so a failure log says which behaviour broke. */
#define TEST(name) static void name(void)
#define RUN(name) do { fprintf(stderr, "== %s\n", #name); name(); } while (0)

#endif
