/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the snapsafectl subcommands share: the command table entry, the exit codes (the
 * documented contract of docs/cli.md), option parsing and error reporting. Each subcommand
 * lives in its own file and talks to snapsafed through src/lib/client.h or the public API.
 */
#ifndef SNAPSAFE_CLI_SNAPSAFECTL_H
#define SNAPSAFE_CLI_SNAPSAFECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes; scripts rely on them, so they only ever get added to. */
enum {
	CLI_EXIT_OK		= 0,
	CLI_EXIT_FAILURE	= 1,	/* any other failure reported by the daemon or the system */
	CLI_EXIT_USAGE		= 2,	/* bad command line */
	CLI_EXIT_UNREACHABLE	= 3,	/* no daemon at the runtime directory's control.sock */
	CLI_EXIT_DENIED		= 4,	/* the daemon refused a privileged request (EACCES) */
	CLI_EXIT_TIMEOUT	= 5,	/* wait-watchers timed out */
	CLI_EXIT_LOST		= 6,	/* the daemon closed the connection or spoke garbage mid-request */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the name; returns an exit code */
	const char *args;			/* usage after the name */
	const char *summary;
};

/* Parsed options of a subcommand: --json, and at most one numeric option. */
struct cli_options {
	bool json;
	bool has_value;
	uint32_t value;
};

/*
 * cli_parse() - parse a subcommand's options (--runtime-dir was already taken out).
 * @value_name: the long name of its numeric option ("min-gen"), or NULL
 * @json: whether it accepts --json
 * Return: -1 to go on, else an exit code to return at once (--help, usage error).
 */
int cli_parse(int argc, char **argv, const char *value_name, bool json, struct cli_options *ret);

/* cli_connect() - connect to the daemon. Return: the fd, or -1 after printing why. */
int cli_connect(void);

/* cli_unreachable() - say that connecting failed with the negative errno @error. Return: 3. */
int cli_unreachable(int error);

/*
 * cli_error() - print "snapsafectl: <cmd>: <what>" for the negative errno @error, with a
 * hint where one helps. Return: the exit code it maps to.
 */
int cli_error(const char *cmd, int error);

/*
 * cli_value_command() - all of a subcommand that sends one request whose OK carries a
 * number and prints that number: parse the options, connect, ask, print.
 * @value_name: the subcommand's numeric option ("min-gen"), appended to @request; or NULL
 * @json_key: the member the number is printed as with --json
 * @json_extra: further JSON members, "" or starting with a comma
 * Return: the exit code.
 */
int cli_value_command(int argc, char **argv, const char *value_name, const char *request,
		      const char *json_key, const char *json_extra);

int cmd_status(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_outdated(int argc, char **argv);
int cmd_wait_watchers(int argc, char **argv);
int cmd_quiesce(int argc, char **argv);
int cmd_resume(int argc, char **argv);

#endif
