/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stderr logging with syslog priority prefixes. One formatted buffer per line and a
 * single write(2), so lines from concurrent writers do not interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_prefix = 1;
static int use_timestamps;
static const char *program_name;
static log_journal_fn *journal_send;

void log_set_journal(log_journal_fn *send)
{
	journal_send = send;
}

void log_set_timestamps(int on)
{
	use_timestamps = on;
}

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

/* Format one line (without the newline) into @buf. Return: its length. */
static size_t format_line(char *buf, size_t size, int level, int error, const char *fmt,
			  va_list ap)
{
	size_t off = 0;
	int n;

	if (use_prefix && use_timestamps) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		off = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(buf + off, size - off, ".%03ld ", ts.tv_nsec / 1000000);
	} else if (use_prefix) {
		n = snprintf(buf, size, "<%d>", level & LOG_PRIMASK);
	} else {
		n = snprintf(buf, size, "%s: ", program_name ? program_name : "snapsafe");
	}
	if (n > 0)
		off += (size_t)n < size - off ? (size_t)n : size - off - 1;
	n = vsnprintf(buf + off, size - off, fmt, ap);
	if (n > 0)
		off += (size_t)n < size - off ? (size_t)n : size - off - 1;
	if (error) {
		const char *msg = strerror(error);
		size_t mlen = strlen(msg);

		if (off + 2 + mlen < size) {
			memcpy(buf + off, ": ", 2);
			memcpy(buf + off + 2, msg, mlen);
			off += 2 + mlen;
		}
	}
	/* Keep room for the newline even when the message was cut. */
	if (off > size - 2)
		off = size - 2;
	return off;
}

static void write_line(char *buf, size_t off)
{
	buf[off++] = '\n';
	/* Best effort: a closed stderr must not stop the daemon. */
	if (write(STDERR_FILENO, buf, off) < 0) {
	}
}

int log_full(int level, int error, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	if (error < 0)
		error = -error;
	if (level <= max_level) {
		va_start(ap, fmt);
		write_line(buf, format_line(buf, sizeof(buf), level, error, fmt, ap));
		va_end(ap);
	}
	errno = saved;
	return error ? -error : 0;
}

int log_struct(int level, const char *message_id, const char *const *fields, const char *fmt,
	       ...)
{
	enum { FIELDS_MAX = 16 };
	char buf[1024], message[1100], priority[16], id[48];
	const char *entries[FIELDS_MAX + 3];
	size_t n = 0;
	va_list ap;
	int saved = errno;

	if (level > max_level)
		goto out;
	if (!journal_send) {
		va_start(ap, fmt);
		write_line(buf, format_line(buf, sizeof(buf), level, 0, fmt, ap));
		va_end(ap);
		goto out;
	}
	snprintf(priority, sizeof(priority), "PRIORITY=%d", level & LOG_PRIMASK);
	snprintf(id, sizeof(id), "MESSAGE_ID=%s", message_id);
	memcpy(message, "MESSAGE=", 8);
	va_start(ap, fmt);
	vsnprintf(message + 8, sizeof(message) - 8, fmt, ap);
	va_end(ap);
	entries[n++] = priority;
	entries[n++] = id;
	entries[n++] = message;
	for (; fields && *fields && n < FIELDS_MAX + 3; fields++)
		entries[n++] = *fields;
	journal_send(entries, n);
out:
	errno = saved;
	return 0;
}
