/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON writer of json.h. A document is built compact in an open_memstream() buffer and
 * printed in one go, so a failure half-way (an allocation) prints nothing rather than half
 * an object. --json=pretty re-indents the compact text; the text is ours, so the only thing
 * the indenter has to know is where strings start and end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void json_begin(struct json *j)
{
	*j = (struct json){};
	j->f = open_memstream(&j->buf, &j->len);
}

/*
 * The length of the valid UTF-8 sequence at @s (at most @left bytes), or 0: no overlong
 * forms, no surrogates, nothing above U+10FFFF (RFC 3629).
 */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A string literal. Paths and messages are bytes, JSON text is Unicode: valid UTF-8 goes
 * through as it is, any other byte becomes U+FFFD, so the document always parses.
 */
static void json_quote(FILE *f, const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t left = strlen(value);

	fputc('"', f);
	while (left > 0) {
		size_t n;

		if (*s == '"' || *s == '\\') {
			fprintf(f, "\\%c", *s);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else if (*s == '\t') {
			fputs("\\t", f);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s);
		} else if (*s >= 0x80) {
			n = utf8_sequence(s, left);
			if (n == 0) {
				fputs("\\ufffd", f);
				n = 1;
			} else {
				fwrite(s, 1, n, f);
			}
			s += n;
			left -= n;
			continue;
		} else {
			fputc(*s, f);
		}
		s++;
		left--;
	}
	fputc('"', f);
}

/* What comes before every value: the comma, and the member's name. */
static bool json_prefix(struct json *j, const char *key)
{
	if (!j->f)
		return false;
	if (j->comma)
		fputc(',', j->f);
	if (key) {
		json_quote(j->f, key);
		fputc(':', j->f);
	}
	j->comma = true;
	return true;
}

void json_object(struct json *j, const char *key)
{
	if (json_prefix(j, key))
		fputc('{', j->f);
	j->comma = false;
}

void json_array(struct json *j, const char *key)
{
	if (json_prefix(j, key))
		fputc('[', j->f);
	j->comma = false;
}

void json_close(struct json *j, char close)
{
	if (j->f)
		fputc(close, j->f);
	j->comma = true;
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
	if (json_prefix(j, key))
		fprintf(j->f, "%" PRIu64, value);
}

void json_string(struct json *j, const char *key, const char *value)
{
	if (json_prefix(j, key))
		json_quote(j->f, value);
}

void json_bool(struct json *j, const char *key, bool value)
{
	if (json_prefix(j, key))
		fputs(value ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	if (json_prefix(j, key))
		fputs("null", j->f);
}

static void json_newline(int depth)
{
	putchar('\n');
	for (int i = 0; i < depth; i++)
		fputs("  ", stdout);
}

/* Indent the compact text of @s: a newline after every opening bracket and comma. */
static void json_print_pretty(const char *s, size_t len)
{
	bool in_string = false, escaped = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			putchar(c);
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c) {
		case '"':
			in_string = true;
			putchar(c);
			break;
		case '{':
		case '[':
			putchar(c);
			/* An empty container stays on its line: [] and {}. */
			if (i + 1 < len && (s[i + 1] == '}' || s[i + 1] == ']')) {
				putchar(s[++i]);
				break;
			}
			json_newline(++depth);
			break;
		case '}':
		case ']':
			json_newline(--depth);
			putchar(c);
			break;
		case ',':
			putchar(c);
			json_newline(depth);
			break;
		case ':':
			fputs(": ", stdout);
			break;
		default:
			putchar(c);
		}
	}
	putchar('\n');
}

int json_end(struct json *j, bool pretty)
{
	int r = 0;

	/* fclose() makes buf and len final; a memstream fails only to allocate. */
	if (!j->f || fclose(j->f) != 0 || !j->buf) {
		r = -ENOMEM;
	} else if (pretty) {
		json_print_pretty(j->buf, j->len);
	} else {
		fwrite(j->buf, 1, j->len, stdout);
		putchar('\n');
	}
	j->f = NULL;
	free(j->buf);
	j->buf = NULL;
	return r;
}

void json_discard(struct json *j)
{
	if (j->f)
		fclose(j->f);
	j->f = NULL;
	free(j->buf);
	j->buf = NULL;
}
