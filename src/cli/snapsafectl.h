/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the snapsafectl subcommands share: the command table entry, the exit codes (the
 * documented contract of docs/cli.md), option parsing, the connection (connect.c), and how
 * results and errors are printed, for people and under --json (output.c). Each subcommand
 * lives in its own file and talks to snapsafed through src/lib/client.h or the public API.
 */
#ifndef SNAPSAFE_CLI_SNAPSAFECTL_H
#define SNAPSAFE_CLI_SNAPSAFECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "target.h"

/* Exit codes; scripts rely on them, so they only ever get added to. */
enum {
	CLI_EXIT_OK		= 0,
	CLI_EXIT_FAILURE	= 1,	/* any other failure reported by the daemon or the system */
	CLI_EXIT_USAGE		= 2,	/* bad command line */
	CLI_EXIT_UNREACHABLE	= 3,	/* no daemon at the runtime directory's control.sock */
	CLI_EXIT_DENIED		= 4,	/* the daemon refused a privileged request (EACCES) */
	CLI_EXIT_TIMEOUT	= 5,	/* wait-watchers timed out */
	CLI_EXIT_LOST		= 6,	/* the daemon closed the connection or spoke garbage mid-request */
	CLI_EXIT_STALE		= 7,	/* status: the page says a daemon runs, but none owns it */
	CLI_EXIT_PARTIAL	= 8,	/* fleet mode: some of several targets failed */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the name; returns an exit code */
	const char *args;			/* usage after the name */
	const char *summary;
};

/* Parsed options of a subcommand: at most one numeric option. */
struct cli_options {
	bool has_value;
	uint32_t value;
};

/*
 * cli_parse() - parse a subcommand's options (--runtime-dir and --json were already taken
 * out by main()).
 * @value_name: the long name of its numeric option ("min-gen"), or NULL
 * Return: -1 to go on, else an exit code to return at once (--help, usage error).
 */
int cli_parse(int argc, char **argv, const char *value_name, struct cli_options *ret);

/* ---- output.c: results and errors ---- */

enum cli_json_mode {
	CLI_JSON_OFF,
	CLI_JSON_SHORT,		/* --json: one object per line */
	CLI_JSON_PRETTY,	/* --json=pretty: indented */
};

/* The --json mode, set by main() before a subcommand runs. */
extern enum cli_json_mode cli_json;

/* cli_json_end() - print @j (json_end()) as --json asks. Return: 0, or an exit code. */
int cli_json_end(struct json *j);

/*
 * cli_fail() - report a failure: "snapsafectl: <message>" on stderr and, under --json, the
 * object {"error":"<message>","errno":"<NAME>" or null,"exit":<code>} on stdout.
 * @code: the exit code
 * @error: the negative errno behind the failure, or 0 when there is none (a usage error)
 * Return: @code.
 */
int cli_fail(int code, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * cli_fail_json() - the same for a failure that comes with a result: under --json, the
 * members "error", "errno" and "exit" end the object @j has open at the top, which is then
 * closed and printed; without --json @j is discarded.
 */
int cli_fail_json(struct json *j, int code, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* cli_errno_name() - "EACCES" for EACCES or -EACCES; NULL when unknown or 0. */
const char *cli_errno_name(int error);

/* cli_duration() - @ms in human terms: "850 ms", "12 s", "3 min 12 s", "2 h 5 min", "4 d 3 h". */
void cli_duration(char *buf, size_t size, uint64_t ms);

/*
 * cli_finish_stdout() - at exit: flush and close stdout; a result that could not be written
 * is a failure. @cmd: the subcommand, for the message. @code: what the subcommand returned.
 * Return: @code, or CLI_EXIT_FAILURE when it was 0 and writing failed.
 */
int cli_finish_stdout(const char *cmd, int code);

/* ---- connect.c: the runtime directory and the socket ---- */

/*
 * cli_connect() - connect to the daemon.
 * Return: the fd, or -1 after reporting why not (the caller returns CLI_EXIT_UNREACHABLE).
 */
int cli_connect(void);

/*
 * cli_unreachable() - report that connecting failed with the negative errno @error, and
 * precisely why: a runtime directory that does not exist, is no directory, may not be
 * entered, or whose socket path is too long; no socket in it; nobody listening on it.
 * Return: CLI_EXIT_UNREACHABLE.
 */
int cli_unreachable(int error);

/*
 * cli_unreachable_reason() - the words cli_unreachable() uses for @error after "cannot reach
 * snapsafed at <dir>/control.sock: ".
 * Return: true when the runtime directory itself is the problem (missing, not a directory,
 * not accessible, too long), false when it is usable and only the socket failed.
 */
bool cli_unreachable_reason(int error, char *buf, size_t size);

/*
 * cli_error() - report the negative errno @error of subcommand @cmd, with a hint where one
 * helps. Return: the exit code it maps to.
 */
int cli_error(const char *cmd, int error);

/*
 * cli_too_old() - is the reply @error/@text the `ERR EINVAL unknown request` of a daemon
 * that predates the request? Then report it for @cmd and @request.
 * Return: -1 when it is not, else the exit code after reporting.
 */
int cli_too_old(const char *cmd, const char *request, int error, const char *text, size_t len);

/*
 * cli_value_command() - all of a subcommand that sends one request whose OK carries a
 * number and prints that number: parse the options, connect, ask, print.
 * @value_name: the subcommand's numeric option ("min-gen"), appended to @request; or NULL
 * @json_key: the member the number is printed as with --json
 * @flag_key, @flag: a further boolean member for --json, or NULL
 * Return: the exit code.
 */
int cli_value_command(int argc, char **argv, const char *value_name, const char *request,
		      const char *json_key, const char *flag_key, bool flag);

/* ---- fleet-command.c: one subcommand on many daemons (docs/fleet.md) ---- */

/* The global options of fleet mode, filled by main.c. */
struct cli_fleet {
	struct targets targets;		/* --vsock, --vsock-uds, --targets; none: local mode */
	uint64_t deadline_ms;		/* --deadline */
	unsigned parallel;		/* --parallel */
};
extern struct cli_fleet cli_fleet;

/* cli_fleet_supports() - may subcommand @name run in fleet mode? */
bool cli_fleet_supports(const char *name);

/*
 * cli_fleet_command() - run subcommand argv[0] (its options after it) on every target.
 * Return: the exit code.
 */
int cli_fleet_command(int argc, char **argv);

int cmd_status(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_watchers(int argc, char **argv);
int cmd_outdated(int argc, char **argv);
int cmd_wait_watchers(int argc, char **argv);
int cmd_quiesce(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_metrics(int argc, char **argv);

#endif
