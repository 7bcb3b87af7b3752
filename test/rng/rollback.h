/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The clone test of the RNG, for the tests that link the internal library: save the
 * thread's engine state, draw, put the saved state back (what restoring a VM snapshot
 * does to memory), let the caller raise a generation source or not, draw again, and count
 * the outputs the two draws share. Without a raise all of them repeat, which the callers
 * assert too, so they can see the bug they guard against. Header only.
 */
#ifndef SNAPSAFE_TEST_ROLLBACK_H
#define SNAPSAFE_TEST_ROLLBACK_H

#include <snapsafe/snapsafe.h>

#include "outputs.h"
#include "rng.h"

static inline void rollback_draw(struct outputs *o, int n)
{
	uint8_t b[OUTPUT_SIZE];

	for (int i = 0; i < n; i++) {
		snapsafe_random_buf(b, sizeof(b));
		outputs_add(o, b);
	}
}

static inline size_t rollback_common(const struct outputs *a, const struct outputs *b)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++)
			n += memcmp(a->v[i], b->v[j], OUTPUT_SIZE) == 0;
	return n;
}

/* Draw @n, roll the state back, call @raise (or not), draw @n again: how many repeat. */
static inline size_t rollback_and_compare(int n, void (*raise)(void))
{
	struct rng_state saved;
	struct outputs before = { 0 }, after = { 0 };
	size_t common;

	snapsafe_random_u32();	/* seeded and current */
	memcpy(&saved, rng_current_state(), sizeof(saved));
	rollback_draw(&before, n);
	memcpy(rng_current_state(), &saved, sizeof(saved));
	if (raise)
		raise();
	rollback_draw(&after, n);
	common = rollback_common(&before, &after);
	outputs_free(&before);
	outputs_free(&after);
	return common;
}

#endif
