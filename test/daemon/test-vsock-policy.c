/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --vsock-allow (src/daemon/vsock-policy.c): the default gives the host control and every
 * other CID reads; an explicit list refuses what it does not name; watchers are never
 * served over vsock; malformed rules are refused whole.
 */
#include "test.h"
#include "vsock-policy.h"

TEST(test_default_host_controls_others_read)
{
	struct vsock_policy p;

	assert_eq(vsock_policy_parse(VSOCK_POLICY_DEFAULT, &p), 0);
	assert_eq(vsock_policy_lookup(&p, 2), VSOCK_ACCESS_CONTROL);
	assert_eq(vsock_policy_lookup(&p, 1), VSOCK_ACCESS_READ);
	assert_eq(vsock_policy_lookup(&p, 3), VSOCK_ACCESS_READ);
	assert_eq(vsock_policy_lookup(&p, 4000000), VSOCK_ACCESS_READ);
}

TEST(test_explicit_list_refuses_the_unnamed)
{
	struct vsock_policy p;

	assert_eq(vsock_policy_parse("host:control,local:read,17:control", &p), 0);
	assert_eq(vsock_policy_lookup(&p, 2), VSOCK_ACCESS_CONTROL);
	assert_eq(vsock_policy_lookup(&p, 1), VSOCK_ACCESS_READ);
	assert_eq(vsock_policy_lookup(&p, 17), VSOCK_ACCESS_CONTROL);
	assert_eq(vsock_policy_lookup(&p, 3), VSOCK_ACCESS_NONE);
}

TEST(test_last_rule_for_a_cid_wins)
{
	struct vsock_policy p;

	assert_eq(vsock_policy_parse("2:read,any:none,host:none,any:read", &p), 0);
	assert_eq(vsock_policy_lookup(&p, 2), VSOCK_ACCESS_NONE);
	assert_eq(vsock_policy_lookup(&p, 9), VSOCK_ACCESS_READ);
	assert_eq(p.n, 1);
}

TEST(test_malformed_rules_are_refused)
{
	static const char *const bad[] = {
		"", "host", "host:", ":read", "host:contro", "host:control,", ",host:read",
		"4294967295:read", "-1:read", "0x2:read", "host:read:x", "somebody:read",
		"host:control,,any:read",
	};
	struct vsock_policy p = { .n = 99 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (vsock_policy_parse(bad[i], &p) != -EINVAL)
			test_fail("'%s' was accepted", bad[i]);
		assert_eq(p.n, 99);
	}
}

TEST(test_levels_permit_their_requests_and_watchers_never)
{
	for (int t = 0; t < _PROTOCOL_REQUEST_MAX; t++) {
		bool watcher = t == PROTOCOL_REQUEST_WATCH || t == PROTOCOL_REQUEST_READ ||
			       t == PROTOCOL_REQUEST_ACK;
		bool privileged = t == PROTOCOL_REQUEST_TRIGGER || t == PROTOCOL_REQUEST_QUIESCE ||
				  t == PROTOCOL_REQUEST_RESUME;

		assert_true(!vsock_request_permitted(VSOCK_ACCESS_NONE, t));
		assert_eq(vsock_request_permitted(VSOCK_ACCESS_READ, t), !watcher && !privileged);
		assert_eq(vsock_request_permitted(VSOCK_ACCESS_CONTROL, t), !watcher);
	}
}

int main(void)
{
	RUN(test_default_host_controls_others_read);
	RUN(test_explicit_list_refuses_the_unnamed);
	RUN(test_last_rule_for_a_cid_wins);
	RUN(test_malformed_rules_are_refused);
	RUN(test_levels_permit_their_requests_and_watchers_never);
	return 0;
}
