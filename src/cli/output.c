/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How snapsafectl prints: the --json mode, failures (a line on stderr and, under --json, an
 * object on stdout that names the message, the errno and the exit code, as docs/cli.md
 * documents), durations in human terms, and the check at exit that the results really
 * reached stdout (a full disk or a closed file is a failure, not a silent success).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"
#include "snapsafectl.h"

enum cli_json_mode cli_json = CLI_JSON_OFF;

int cli_json_end(struct json *j)
{
	int r = json_end(j, cli_json == CLI_JSON_PRETTY);

	if (r < 0) {
		fprintf(stderr, "snapsafectl: cannot build the JSON output: %s\n", strerror(-r));
		return CLI_EXIT_FAILURE;
	}
	return 0;
}

const char *cli_errno_name(int error)
{
	if (error < 0)
		error = -error;
	if (error == 0)
		return NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	{
		const char *name = strerrorname_np(error);

		if (name)
			return name;
	}
#endif
	return protocol_errno_name(error);
}

static int cli_failv(struct json *j, int code, int error, const char *fmt, va_list ap)
{
	const char *name = cli_errno_name(error);
	struct json own;
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "snapsafectl: %s\n", msg);
	if (cli_json == CLI_JSON_OFF) {
		if (j)
			json_discard(j);
		return code;
	}
	if (!j) {
		json_begin(&own);
		json_object(&own, NULL);
		j = &own;
	}
	json_string(j, "error", msg);
	if (name)
		json_string(j, "errno", name);
	else
		json_null(j, "errno");
	json_u64(j, "exit", (uint64_t)code);
	json_close(j, '}');
	/* Out of memory: the message is on stderr already, and the exit code says it. */
	cli_json_end(j);
	return code;
}

int cli_fail(int code, int error, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_failv(NULL, code, error, fmt, ap);
	va_end(ap);
	return r;
}

int cli_fail_json(struct json *j, int code, int error, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_failv(j, code, error, fmt, ap);
	va_end(ap);
	return r;
}

void cli_duration(char *buf, size_t size, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, size, "%" PRIu64 " ms", ms);
	else if (s < 60)
		snprintf(buf, size, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 " d %" PRIu64 " h", s / 86400, s % 86400 / 3600);
}

int cli_finish_stdout(const char *cmd, int code)
{
	int r = 0;

	/*
	 * stdout is fully buffered when it is a file: printf() "succeeds" into the buffer and
	 * only the flush meets the full disk. ferror() catches a write that failed earlier,
	 * when the buffer filled up; fclose() a failure that only the close reports. EBADF
	 * from the close alone means stdout was closed when nothing was to be written to it.
	 */
	if (fflush(stdout) != 0)
		r = -errno;
	else if (ferror(stdout))
		r = -EIO;
	if (fclose(stdout) != 0 && r == 0 && errno != EBADF)
		r = -errno;
	if (r == 0)
		return code;
	fprintf(stderr, "snapsafectl: %s%scannot write to standard output: %s\n", cmd ? cmd : "",
		cmd ? ": " : "", strerror(-r));
	return code == CLI_EXIT_OK ? CLI_EXIT_FAILURE : code;
}
