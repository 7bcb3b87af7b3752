/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Answering OSSL_PARAM requests without libcrypto: the few setters the provider needs
 * (unsigned and signed integers of any width the caller chose, and UTF-8 string pointers),
 * each honouring the caller's type, its size and the query-only form (data == NULL, where
 * only return_size is wanted). A value that does not fit the caller's field is refused.
 */
#include <string.h>

#include "provider.h"

bool param_set_uint(OSSL_PARAM *p, uint64_t v)
{
	if (p->data_type != OSSL_PARAM_UNSIGNED_INTEGER && p->data_type != OSSL_PARAM_INTEGER)
		return false;
	if (!p->data) {
		p->return_size = sizeof(v);
		return true;
	}
	switch (p->data_size) {
	case sizeof(uint32_t):
		if (v > (p->data_type == OSSL_PARAM_INTEGER ? (uint64_t)INT32_MAX : UINT32_MAX))
			return false;
		if (p->data_type == OSSL_PARAM_INTEGER) {
			int32_t s = (int32_t)v;

			memcpy(p->data, &s, sizeof(s));
		} else {
			uint32_t u = (uint32_t)v;

			memcpy(p->data, &u, sizeof(u));
		}
		break;
	case sizeof(uint64_t):
		if (p->data_type == OSSL_PARAM_INTEGER && v > (uint64_t)INT64_MAX)
			return false;
		memcpy(p->data, &v, sizeof(v));
		break;
	default:
		return false;
	}
	p->return_size = p->data_size;
	return true;
}

bool param_set_int(OSSL_PARAM *p, int v)
{
	if (v >= 0)
		return param_set_uint(p, (uint64_t)v);
	if (p->data_type != OSSL_PARAM_INTEGER)
		return false;
	if (!p->data) {
		p->return_size = sizeof(v);
		return true;
	}
	switch (p->data_size) {
	case sizeof(int32_t): {
		int32_t s = v;

		memcpy(p->data, &s, sizeof(s));
		break;
	}
	case sizeof(int64_t): {
		int64_t s = v;

		memcpy(p->data, &s, sizeof(s));
		break;
	}
	default:
		return false;
	}
	p->return_size = p->data_size;
	return true;
}

bool param_set_utf8_ptr(OSSL_PARAM *p, const char *s)
{
	if (p->data_type != OSSL_PARAM_UTF8_PTR)
		return false;
	p->return_size = strlen(s);
	if (p->data)
		*(const char **)p->data = s;
	return true;
}
