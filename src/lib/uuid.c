/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RFC 9562 UUIDs from the snapshot-safe RNG. Request IDs and nonces are what
 * repeats after a VM clone, so they come from the same engine as everything else.
 *
 * Version 7 keeps one process's UUIDs in creation order even within a
 * millisecond: the 12 bits after the timestamp (rand_a) are a counter seeded
 * randomly each millisecond (RFC 9562 section 6.2, method 1, with a 12-bit
 * counter); if it overflows, the timestamp is advanced by one millisecond.
 * The last timestamp and counter are one 64-bit word updated by compare-and-swap:
 * no lock, so a fork at any moment leaves a child that can make UUIDs, and a signal
 * handler may make one while the thread it interrupted is making another.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "snapsafe/snapsafe.h"

enum {
	V7_COUNTER_BITS	= 12,
	V7_COUNTER_MAX	= (1 << V7_COUNTER_BITS) - 1,
	/* Start low in the 12-bit space so a burst rarely overflows. */
	V7_COUNTER_SEED	= 0x1ff,
};

/* unix_ms << 12 | counter of the last UUIDv7 this process made. */
static uint64_t v7_last;

static void uuid_set_version(uint8_t out[16], unsigned int version)
{
	out[6] = (uint8_t)((out[6] & 0x0f) | (version << 4));
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);	/* variant 10xx */
}

EXPORT void snapsafe_uuid_v4(uint8_t out[16])
{
	snapsafe_random_buf(out, 16);
	uuid_set_version(out, 4);
}

EXPORT void snapsafe_uuid_v7(uint8_t out[16])
{
	struct timespec ts;
	uint64_t ms, last, next, seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snapsafe_random_buf(out, 16);
	seed = ((uint64_t)out[6] << 8 | out[7]) & V7_COUNTER_SEED;

	/*
	 * Ordering within this process only. After fork the child's counter continues from
	 * the parent's, but the random tail differs.
	 */
	last = __atomic_load_n(&v7_last, __ATOMIC_RELAXED);
	do {
		if (ms > last >> V7_COUNTER_BITS)
			next = ms << V7_COUNTER_BITS | seed;
		else if ((last & V7_COUNTER_MAX) < V7_COUNTER_MAX)
			next = last + 1;
		else	/* clock went back or counter exhausted: stay monotonic */
			next = ((last >> V7_COUNTER_BITS) + 1) << V7_COUNTER_BITS;
	} while (!__atomic_compare_exchange_n(&v7_last, &last, next, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	ms = next >> V7_COUNTER_BITS;

	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(ms >> (40 - 8 * i));
	out[6] = (uint8_t)(next >> 8 & 0xf);
	out[7] = (uint8_t)next;
	uuid_set_version(out, 7);
}
