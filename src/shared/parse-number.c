/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict unsigned number parsing (see parse-number.h). */
#include <errno.h>
#include <string.h>

#include "parse-number.h"

static int digit_value(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_uint_prefix(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *ret,
		      const char **ret_end)
{
	/* No u64 needs more digits: a longer number (leading zeros) is malformed, not large. */
	size_t max_digits = base == 16 ? 16 : 20, i;
	uint64_t v = 0;

	if (base != 10 && base != 16)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		int d = digit_value(s[i], base);

		if (d < 0)
			break;
		if (i == max_digits)
			return -EINVAL;
		if (v > (max - (uint64_t)d) / base || (uint64_t)d > max)
			return -EINVAL;
		v = v * base + (uint64_t)d;
	}
	if (i == 0)
		return -EINVAL;
	*ret = v;
	if (ret_end)
		*ret_end = s + i;
	return 0;
}

int parse_uint(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *ret)
{
	const char *end;
	uint64_t v;
	int r;

	r = parse_uint_prefix(s, len, base, max, &v, &end);
	if (r < 0)
		return r;
	if (end != s + len)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_uint_str(const char *s, unsigned base, uint64_t max, uint64_t *ret)
{
	return parse_uint(s, strlen(s), base, max, ret);
}
