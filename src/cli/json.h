/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON that snapsafectl prints: a writer that builds one value in memory (commas placed
 * for the caller, strings escaped, invalid UTF-8 replaced) and prints it on one line, or
 * indented for --json=pretty. Only what the subcommands need: objects, arrays, unsigned
 * numbers, strings, booleans and null. Not a parser.
 */
#ifndef SNAPSAFE_CLI_JSON_H
#define SNAPSAFE_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;		/* an open_memstream(); NULL once it could not be made */
	char *buf;
	size_t len;
	bool comma;		/* the next member or element needs a comma before it */
};

/* json_begin() - start a document; a failed allocation shows at json_end(). */
void json_begin(struct json *j);

/*
 * Values. @key names the member inside an object; NULL inside an array or for the document
 * itself. json_object()/json_array() open a container that json_close() ends.
 */
void json_object(struct json *j, const char *key);
void json_array(struct json *j, const char *key);
void json_close(struct json *j, char close);	/* '}' or ']' */
void json_u64(struct json *j, const char *key, uint64_t value);
void json_string(struct json *j, const char *key, const char *value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);

/*
 * json_end() - print the document and a newline on stdout, on one line or, with @pretty,
 * indented by two spaces a level; free it.
 * Return: 0, or -ENOMEM when the document could not be built (nothing is printed).
 */
int json_end(struct json *j, bool pretty);

/* json_discard() - free a document without printing it. */
void json_discard(struct json *j);

#endif
