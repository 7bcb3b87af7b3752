/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Just enough JSON for the snapsafectl tests: a strict validator (RFC 8259 grammar, ASCII
 * strings) and a lookup of a value by a dotted key path ("notifiers.control", "0.pid" in an
 * array) that returns the value's text (a string without its quotes). Header only.
 */
#ifndef SNAPSAFE_TEST_JSON_H
#define SNAPSAFE_TEST_JSON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (!strchr("\"\\/bfnrtu", *p) || !*p)
				return NULL;
		}
	}
	return p + 1;
}

static const char *json_number(const char *p)
{
	const char *start;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		start = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == start)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		start = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == start)
			return NULL;
	}
	return p;
}

/* Objects and arrays: @close is '}' or ']'; members of objects are "key": value. */
static const char *json_container(const char *p, char close)
{
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			p = json_string(p);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = json_value(json_ws(p));
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
}

static const char *json_value(const char *p)
{
	switch (*p) {
	case '{':
		return json_container(p, '}');
	case '[':
		return json_container(p, ']');
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return json_number(p);
	}
}

/* json_valid() - is @doc one JSON value, with nothing but white space around it? */
static inline bool json_valid(const char *doc)
{
	const char *end = json_value(json_ws(doc));

	return end && *json_ws(end) == '\0';
}

/* The value from @v to @vend into @out, or the rest of @path inside it. */
static inline bool json_get(const char *doc, const char *path, char *out, size_t size);

static inline bool json_take(const char *v, const char *vend, const char *rest, char *out,
			     size_t size)
{
	size_t len;

	if (rest)
		return json_get(v, rest, out, size);
	if (*v == '"') {
		v++;
		vend--;
	}
	len = (size_t)(vend - v);
	if (len >= size)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

/*
 * json_get() - the value at the dotted @path of @doc, into @out: a segment names a member of
 * an object, or (a number) an element of an array ("2.pid").
 * Return: true when found and it fits.
 */
static inline bool json_get(const char *doc, const char *path, char *out, size_t size)
{
	const char *p = json_ws(doc);
	const char *dot = strchr(path, '.');
	size_t seg = dot ? (size_t)(dot - path) : strlen(path);

	if (*p == '[') {
		char *end;
		unsigned long index = strtoul(path, &end, 10);

		if (seg == 0 || end != path + seg)
			return false;
		p = json_ws(p + 1);
		for (unsigned long i = 0; *p != ']'; i++) {
			const char *v = p, *vend = json_value(v);

			if (!vend)
				return false;
			if (i == index)
				return json_take(v, vend, dot ? dot + 1 : NULL, out, size);
			p = json_ws(vend);
			if (*p == ',')
				p = json_ws(p + 1);
			else if (*p != ']')
				return false;
		}
		return false;
	}
	if (*p != '{')
		return false;
	p = json_ws(p + 1);
	while (*p == '"') {
		const char *key = p + 1, *kend = json_string(p), *v, *vend;

		if (!kend)
			return false;
		p = json_ws(kend);
		if (*p++ != ':')
			return false;
		v = json_ws(p);
		vend = json_value(v);
		if (!vend)
			return false;
		if ((size_t)(kend - 1 - key) == seg && strncmp(key, path, seg) == 0)
			return json_take(v, vend, dot ? dot + 1 : NULL, out, size);
		p = json_ws(vend);
		if (*p != ',')
			return false;
		p = json_ws(p + 1);
	}
	return false;
}

/* json_array_length() - the number of elements of the array @doc; -1 when it is none. */
static inline long json_array_length(const char *doc)
{
	const char *p = json_ws(doc);
	long n = 0;

	if (*p != '[')
		return -1;
	p = json_ws(p + 1);
	while (*p != ']') {
		p = json_value(p);
		if (!p)
			return -1;
		n++;
		p = json_ws(p);
		if (*p == ',')
			p = json_ws(p + 1);
		else if (*p != ']')
			return -1;
	}
	return n;
}

#endif
