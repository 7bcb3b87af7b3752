/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RFC 9562 UUIDs from the snapshot-safe RNG. Request IDs and nonces are what
 * repeats after a VM clone, so they come from the same engine as everything else.
 *
 * Version 7 keeps one process's UUIDs in creation order even within a
 * millisecond: the 12 bits after the timestamp (rand_a) are a counter seeded
 * randomly each millisecond (RFC 9562 section 6.2, method 1, with a 12-bit
 * counter); if it overflows, the timestamp is advanced by one millisecond.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "snapsafe/snapsafe.h"

#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t v7_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v7_last_ms;
static uint32_t v7_counter;

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
	uint64_t ms;
	uint32_t ctr;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snapsafe_random_buf(out, 16);

	/*
	 * A lock only for ordering within this process. After fork the child's
	 * counter continues from the parent's, but the random tail differs.
	 */
	pthread_mutex_lock(&v7_lock);
	if (ms > v7_last_ms) {
		v7_last_ms = ms;
		/* Start low in the 12-bit space so a burst rarely overflows. */
		v7_counter = ((uint32_t)out[6] << 8 | out[7]) & 0x1ff;
	} else if (++v7_counter > 0xfff) {
		v7_last_ms++;	/* clock went back or counter exhausted: stay monotonic */
		v7_counter = 0;
	}
	ms = v7_last_ms;
	ctr = v7_counter;
	pthread_mutex_unlock(&v7_lock);

	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(ms >> (40 - 8 * i));
	out[6] = (uint8_t)(ctr >> 8);
	out[7] = (uint8_t)ctr;
	uuid_set_version(out, 7);
}
