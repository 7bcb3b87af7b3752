/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stderr logging for snapsafed and snapsafectl: each line starts with a "<N>" syslog
 * priority prefix, which journald and systemd's stderr handling turn into the
 * record's priority. Never used by library code (the library does not log).
 */
#ifndef SNAPSAFE_SHARED_LOG_H
#define SNAPSAFE_SHARED_LOG_H

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

#define log_debug(...)		log_full(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)		log_full(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)		log_full(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)	log_full(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)		log_full(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)	log_full(LOG_ERR, (e), __VA_ARGS__)
#define log_debug_errno(e, ...)	log_full(LOG_DEBUG, (e), __VA_ARGS__)

#endif
