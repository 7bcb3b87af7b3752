/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stderr logging for snapsafed and snapsafectl: each line starts with a "<N>" syslog
 * priority prefix, which journald and systemd's stderr handling turn into the
 * record's priority. Never used by library code (the library does not log).
 */
#ifndef SNAPSAFE_SHARED_LOG_H
#define SNAPSAFE_SHARED_LOG_H

#include <stddef.h>
#include <syslog.h>

/* log_set_max_level() - drop messages less important than @level (default LOG_INFO). */
void log_set_max_level(int level);
int log_get_max_level(void);

/* log_set_prefix() - "<N>" prefixes on (daemon) or off with a "name: " prefix (CLI). */
void log_set_prefix(int syslog_prefix, const char *name);

/*
 * log_full() - format and write one line at @level.
 * @error: an errno (either sign) appended as ": strerror", or 0
 * Return: -abs(@error) when @error is non-zero, else 0, so "return log_error_errno(r, ...)".
 */
int log_full(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Structured records: journald gets MESSAGE_ID= and the given "KEY=value" fields beside the
 * message (when a journal writer is set, log_set_journal()); anywhere else the message
 * alone is written as by log_full(). One MESSAGE_ID per kind of event (docs/daemon.md).
 */
#define LOG_MESSAGE_RAISE	"b5602994466047ef811c5f886c61705c"	/* generation raised */
#define LOG_MESSAGE_PRIVILEGED	"640db8f5a0ab491fb6a21a95e7e5b113"	/* TRIGGER/QUIESCE/RESUME done */
#define LOG_MESSAGE_REFUSED	"d60f151e4c034a5a8bdf1a28701e49a5"	/* a request or connection refused */
#define LOG_MESSAGE_NOTIFIER	"51605acf3dbe45f0a060db6b6b9f39fd"	/* a notifier live or off */
#define LOG_MESSAGE_START	"f8163e0c24d946cbbab4a9cb5e7ab95d"	/* ready */
#define LOG_MESSAGE_STOP	"5d2b002fd95e409abf70abd049390c96"	/* stopping */

int log_struct(int level, const char *message_id, const char *const *fields, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

/*
 * log_set_journal() - where structured records go: @send gets "PRIORITY=", "MESSAGE=",
 * "MESSAGE_ID=" and the fields as an array of @n strings. NULL: plain lines only.
 */
typedef void log_journal_fn(const char *const *entries, size_t n);
void log_set_journal(log_journal_fn *send);

/*
 * log_set_timestamps() - start each line with the local time (a terminal) instead of the
 * "<N>" priority prefix (which only journald and systemd's stderr handling read).
 */
void log_set_timestamps(int on);

#define log_debug(...)		log_full(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)		log_full(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)		log_full(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)	log_full(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)		log_full(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)	log_full(LOG_ERR, (e), __VA_ARGS__)
#define log_debug_errno(e, ...)	log_full(LOG_DEBUG, (e), __VA_ARGS__)

#endif
