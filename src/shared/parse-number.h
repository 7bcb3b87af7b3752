/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one number parser of the project: every number that comes from outside (a
 * request line, a kernel record, the state file, a command-line option, /proc) is
 * read here, so that "12abc", "-1", " 1", "+1", an empty string and an overflow are
 * refused the same way everywhere. Pure functions, no errno, no locale.
 */
#ifndef SNAPSAFE_SHARED_PARSE_NUMBER_H
#define SNAPSAFE_SHARED_PARSE_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/*
 * parse_uint() - an unsigned number of exactly @len bytes at @s.
 * @base: 10 (digits only) or 16 (digits and a-f/A-F, no "0x")
 * @max: the largest value accepted
 * @ret: written only on success
 * Return: 0, or -EINVAL for an empty string, any other byte, a value above @max, or more
 * digits than any u64 needs (20 decimal, 16 hex: leading zeros are malformed, not large).
 */
int parse_uint(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *ret);

/* parse_uint_str() - the same for a NUL-terminated string (a command-line option, a value). */
int parse_uint_str(const char *s, unsigned base, uint64_t max, uint64_t *ret);

/*
 * parse_uint_prefix() - the longest run of digits at the start of @s (at most @len bytes),
 * for fields followed by a separator. @ret_end: one past the last digit.
 * Return: as parse_uint(); no digit at all is -EINVAL.
 */
int parse_uint_prefix(const char *s, size_t len, unsigned base, uint64_t max, uint64_t *ret,
		      const char **ret_end);

#endif
