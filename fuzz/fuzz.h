/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the fuzzers share: the libFuzzer entry point (the replay driver calls the same
 * one), an assertion that stays on in every build type, a copy helper, a line splitter
 * and a plain number reader to compare the parsers' own with. Each fuzzer
 * checks invariants of its parser, not only that it does not crash; a broken invariant
 * aborts, which libFuzzer reports as a crash and the replay test as a failure.
 */
#ifndef SNAPSAFE_FUZZ_H
#define SNAPSAFE_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): a release build (-DNDEBUG) must not turn the fuzzers into crash-only tests. */
#define fuzz_assert(expr)							\
	do {									\
		if (!(expr)) {							\
			fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
				__FILE__, __LINE__, #expr);			\
			abort();						\
		}								\
	} while (0)

/*
 * fuzz_dup() - @len bytes of @p in a heap block of exactly @len bytes.
 * The parsers get one line of a larger input; in its own block, a read past the line's
 * end is a heap overflow that ASan reports, instead of a silent read of the next line.
 */
static inline char *fuzz_dup(const void *p, size_t len)
{
	char *b = malloc(len);	/* glibc gives a unique pointer for 0 too */

	if (!b)
		abort();
	memcpy(b, p, len);
	return b;
}

/*
 * fuzz_for_each_line() - call @fn on each '\n'-separated line of @data, without its '\n',
 * each in its own exact-size block, as the daemon hands lines to its parsers. The last
 * piece counts even without a '\n' (an empty one does not), so a one-line seed file needs
 * no newline.
 */
static inline void fuzz_for_each_line(const uint8_t *data, size_t size,
				      void (*fn)(const char *line, size_t len))
{
	while (size > 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		char *line = fuzz_dup(data, n);

		fn(line, n);
		free(line);
		if (!nl)
			break;
		data += n + 1;
		size -= n + 1;
	}
}

/*
 * fuzz_plain_u64() - does the whole of @s (@len bytes, not NUL-terminated) read as an
 * unsigned decimal u64? The deliberately plain reading (strtoull) the parsers' hand-written
 * digit loops are compared with. At most 20 digits, as the parsers have it: nobody sends
 * leading zeros, so a longer number is malformed rather than large.
 */
static inline bool fuzz_plain_u64(const char *s, size_t len, uint64_t *ret)
{
	char buf[24];
	char *end;

	if (len == 0 || len > 20)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789") != len)	/* no sign, no space, no NUL inside */
		return false;
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

#endif
