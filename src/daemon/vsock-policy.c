/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --vsock-allow: parsing and look-up (see vsock-policy.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parse-number.h"
#include "vsock-policy.h"

static const char *const access_names[] = {
	[VSOCK_ACCESS_NONE] = "none",
	[VSOCK_ACCESS_READ] = "read",
	[VSOCK_ACCESS_CONTROL] = "control",
};

const char *vsock_access_name(enum vsock_access access)
{
	return (unsigned)access < sizeof(access_names) / sizeof(access_names[0]) ?
	       access_names[access] : "?";
}

static int access_from_name(const char *s, size_t len, enum vsock_access *ret)
{
	for (unsigned i = 0; i < sizeof(access_names) / sizeof(access_names[0]); i++)
		if (strlen(access_names[i]) == len && memcmp(s, access_names[i], len) == 0) {
			*ret = (enum vsock_access)i;
			return 0;
		}
	return -EINVAL;
}

/* One WHO:LEVEL of @len bytes into @p. */
static int parse_rule(const char *s, size_t len, struct vsock_policy *p)
{
	const char *colon = memchr(s, ':', len);
	enum vsock_access access;
	char who[16];
	uint64_t cid;
	unsigned i;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(who))
		return -EINVAL;
	if (access_from_name(colon + 1, len - (size_t)(colon + 1 - s), &access) < 0)
		return -EINVAL;
	memcpy(who, s, (size_t)(colon - s));
	who[colon - s] = '\0';
	if (strcmp(who, "any") == 0) {
		p->other = access;
		return 0;
	}
	if (strcmp(who, "host") == 0)
		cid = VSOCK_CID_HOST;
	else if (strcmp(who, "local") == 0)
		cid = VSOCK_CID_LOCAL;
	/* VMADDR_CID_ANY (UINT32_MAX) is no peer's address. */
	else if (parse_uint_str(who, 10, UINT32_MAX - 1, &cid) < 0)
		return -EINVAL;
	for (i = 0; i < p->n; i++)
		if (p->rules[i].cid == cid)
			break;
	if (i == VSOCK_POLICY_RULES_MAX)
		return -EINVAL;
	p->rules[i].cid = (uint32_t)cid;
	p->rules[i].access = access;
	if (i == p->n)
		p->n++;
	return 0;
}

int vsock_policy_parse(const char *spec, struct vsock_policy *ret)
{
	struct vsock_policy p = { .other = VSOCK_ACCESS_NONE };
	const char *s = spec;

	if (!*spec)
		return -EINVAL;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (parse_rule(s, len, &p) < 0)
			return -EINVAL;
		if (!end)
			break;
		s = end + 1;
	}
	*ret = p;
	return 0;
}

enum vsock_access vsock_policy_lookup(const struct vsock_policy *p, uint32_t cid)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->rules[i].cid == cid)
			return p->rules[i].access;
	return p->other;
}

bool vsock_request_permitted(enum vsock_access access, enum protocol_request_type type)
{
	switch (type) {
	case PROTOCOL_REQUEST_HELLO:
	case PROTOCOL_REQUEST_STATUS:
	case PROTOCOL_REQUEST_OUTDATED:
	case PROTOCOL_REQUEST_WAIT:
	case PROTOCOL_REQUEST_WATCHERS:
	case PROTOCOL_REQUEST_METRICS:
		return access >= VSOCK_ACCESS_READ;
	case PROTOCOL_REQUEST_TRIGGER:
	case PROTOCOL_REQUEST_QUIESCE:
	case PROTOCOL_REQUEST_RESUME:
		return access == VSOCK_ACCESS_CONTROL;
	default:
		return false;
	}
}
