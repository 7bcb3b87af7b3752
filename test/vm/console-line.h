/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How the guest programs of the VM tests print: one line per write(2), so that the lines of
 * every thread and program on the one console stay whole for the host to parse, and bytes as
 * lowercase hex.
 */
#ifndef SNAPSAFE_TEST_VM_CONSOLE_LINE_H
#define SNAPSAFE_TEST_VM_CONSOLE_LINE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static inline void console_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void console_line(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A console that cannot take the line is a broken test: stop rather than go on mute. */
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		_exit(3);
}

/* @out: 2 * @len + 1 bytes. */
static inline void console_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

#endif
