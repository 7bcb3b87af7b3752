/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Answering OSSL_PARAM requests without libcrypto: the few setters the provider needs
 * (integers, signed or not, in the 4- or 8-byte field the caller chose, and UTF-8 string
 * pointers), each honouring the caller's type, its size and the query-only form (data ==
 * NULL, where only return_size is wanted). A value that does not fit the caller's field is
 * refused.
 */
#include <string.h>

#include "provider.h"

/* Store @bits (two's complement for a negative value) in the caller's 4- or 8-byte field. */
static bool param_store(OSSL_PARAM *p, uint64_t bits)
{
	if (!p->data) {
		p->return_size = sizeof(bits);
		return true;
	}
	if (p->data_size == sizeof(uint32_t)) {
		uint32_t v = (uint32_t)bits;

		memcpy(p->data, &v, sizeof(v));
	} else if (p->data_size == sizeof(uint64_t)) {
		memcpy(p->data, &bits, sizeof(bits));
	} else {
		return false;
	}
	p->return_size = p->data_size;
	return true;
}

bool param_set_uint(OSSL_PARAM *p, uint64_t v)
{
	bool narrow = p->data && p->data_size == sizeof(uint32_t);

	switch (p->data_type) {
	case OSSL_PARAM_UNSIGNED_INTEGER:
		if (narrow && v > UINT32_MAX)
			return false;
		break;
	case OSSL_PARAM_INTEGER:
		if (v > (narrow ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX))
			return false;
		break;
	default:
		return false;
	}
	return param_store(p, v);
}

bool param_set_int(OSSL_PARAM *p, int v)
{
	if (v >= 0)
		return param_set_uint(p, (uint64_t)v);
	return p->data_type == OSSL_PARAM_INTEGER && param_store(p, (uint64_t)(int64_t)v);
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
