/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Collects 32-byte outputs and finds repeats: the check behind every fork storm,
 * thread storm and clone test. Sorting and comparing neighbours keeps it exact.
 */
#ifndef SNAPSAFE_TEST_OUTPUTS_H
#define SNAPSAFE_TEST_OUTPUTS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

enum { OUTPUT_SIZE = 32 };

struct outputs {
	uint8_t (*v)[OUTPUT_SIZE];
	size_t n, alloc;
};

static inline void outputs_add(struct outputs *o, const uint8_t *bytes)
{
	if (o->n == o->alloc) {
		o->alloc = o->alloc ? 2 * o->alloc : 4096;
		o->v = realloc(o->v, o->alloc * OUTPUT_SIZE);
		if (!o->v)
			test_fail("out of memory");
	}
	memcpy(o->v[o->n++], bytes, OUTPUT_SIZE);
}

static int outputs_cmp(const void *a, const void *b)
{
	return memcmp(a, b, OUTPUT_SIZE);
}

/* Number of outputs equal to another one (0 means all distinct); also rejects all-zero. */
static inline size_t outputs_repeats(struct outputs *o)
{
	static const uint8_t zero[OUTPUT_SIZE];
	size_t repeats = 0;

	qsort(o->v, o->n, OUTPUT_SIZE, outputs_cmp);
	for (size_t i = 0; i < o->n; i++) {
		if (memcmp(o->v[i], zero, OUTPUT_SIZE) == 0)
			test_fail("an all-zero output: the state was served after a wipe");
		if (i > 0 && memcmp(o->v[i - 1], o->v[i], OUTPUT_SIZE) == 0)
			repeats++;
	}
	return repeats;
}

static inline void outputs_free(struct outputs *o)
{
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* Read whole 32-byte records from a pipe until EOF. */
static inline void outputs_read_fd(struct outputs *o, int fd)
{
	uint8_t buf[OUTPUT_SIZE * 64];
	size_t have = 0;

	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			test_fail("read: %m");
		if (r == 0)
			break;
		have += (size_t)r;
		size_t whole = have / OUTPUT_SIZE * OUTPUT_SIZE;
		for (size_t i = 0; i < whole; i += OUTPUT_SIZE)
			outputs_add(o, buf + i);
		memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
	if (have)
		test_fail("a partial record of %zu bytes", have);
}

#endif
