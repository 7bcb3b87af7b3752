/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stderr logging with syslog priority prefixes. One formatted buffer per line and a
 * single write(2), so lines from concurrent writers do not interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_prefix = 1;
static const char *program_name;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_prefix(int syslog_prefix, const char *name)
{
	use_prefix = syslog_prefix;
	program_name = name;
}

int log_full(int level, int error, const char *fmt, ...)
{
	char buf[1024];
	size_t off = 0;
	va_list ap;
	int n, saved = errno;

	if (error < 0)
		error = -error;
	if (level > max_level)
		goto out;

	if (use_prefix)
		n = snprintf(buf, sizeof(buf), "<%d>", level & LOG_PRIMASK);
	else
		n = snprintf(buf, sizeof(buf), "%s: ", program_name ? program_name : "snapsafe");
	if (n > 0)
		off = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;

	va_start(ap, fmt);
	n = vsnprintf(buf + off, sizeof(buf) - off, fmt, ap);
	va_end(ap);
	if (n > 0)
		off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;

	if (error) {
		const char *msg = strerror(error);
		size_t mlen = strlen(msg);

		if (off + 2 + mlen < sizeof(buf)) {
			memcpy(buf + off, ": ", 2);
			memcpy(buf + off + 2, msg, mlen);
			off += 2 + mlen;
		}
	}
	/* Keep room for the newline even when the message was cut. */
	if (off > sizeof(buf) - 2)
		off = sizeof(buf) - 2;
	buf[off++] = '\n';
	/* Best effort: a closed stderr must not stop the daemon. */
	if (write(STDERR_FILENO, buf, off) < 0) {
	}
out:
	errno = saved;
	return error ? -error : 0;
}
