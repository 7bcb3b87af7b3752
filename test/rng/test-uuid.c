/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RFC 9562 UUIDs: version and variant bits, v7's timestamp, ordering and uniqueness. */
#include <time.h>

#include "outputs.h"
#include "policy.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum { N = 200000 };

static uint8_t ids[N][16];

TEST(test_v4_has_version_4_and_variant_10)
{
	uint8_t seen_or[16] = { 0 };

	for (int i = 0; i < N; i++) {
		snapsafe_uuid_v4(ids[i]);
		assert_eq(ids[i][6] >> 4, 4);
		assert_eq(ids[i][8] >> 6, 2);
		for (int k = 0; k < 16; k++)
			seen_or[k] |= ids[i][k];
	}
	/* The other 122 bits are random: each one was set somewhere. */
	assert_eq(seen_or[6], 0x4f);
	assert_eq(seen_or[8], 0xbf);
	assert_eq(seen_or[0], 0xff);
}

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

TEST(test_v7_is_time_ordered_and_carries_unix_ms)
{
	struct timespec ts;
	uint64_t before, after, ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (int i = 0; i < N; i++) {
		snapsafe_uuid_v7(ids[i]);
		assert_eq(ids[i][6] >> 4, 7);
		assert_eq(ids[i][8] >> 6, 2);
		if (i > 0 && memcmp(ids[i - 1], ids[i], 16) >= 0)
			test_fail("uuid %d does not sort after uuid %d", i, i - 1);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	ms = 0;
	for (int k = 0; k < 6; k++)
		ms = ms << 8 | ids[0][k];
	assert_true(ms >= before && ms <= after + 1);
	ms = 0;
	for (int k = 0; k < 6; k++)
		ms = ms << 8 | ids[N - 1][k];
	/* A burst may run ahead of the clock by a few ms of counter overflow, no more. */
	assert_true(ms >= before && ms <= after + 1000);
}

TEST(test_uuids_are_unique)
{
	for (int i = 0; i < N; i++)
		snapsafe_uuid_v4(ids[i]);
	qsort(ids, N, 16, cmp16);
	for (int i = 1; i < N; i++)
		assert_true(memcmp(ids[i - 1], ids[i], 16) != 0);
}

int main(void)
{
	policy_force_mode(ENGINE_ALWAYS);
	RUN(test_v4_has_version_4_and_variant_10);
	RUN(test_v7_is_time_ordered_and_carries_unix_ms);
	RUN(test_uuids_are_unique);
	return 0;
}
