/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl: the command line of the snapsafe system generation service.
 *
 *	snapsafectl [--runtime-dir DIR] SUBCOMMAND [OPTIONS]
 *
 * This file holds the subcommand table, the global options (--runtime-dir is accepted
 * before and after the subcommand), and what the subcommands share: option parsing, the
 * connection and the errno -> message -> exit code mapping of docs/cli.md. Each subcommand
 * is in a file of its own name.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "parse-number.h"
#include "protocol.h"
#include "runtime-dir.h"
#include "snapsafectl.h"

#ifndef SNAPSAFE_VERSION
#define SNAPSAFE_VERSION "unknown"
#endif

static const struct cli_command commands[] = {
	{ "status",		cmd_status,		"[--json]",
	  "show the generation, epoch, watchers, quiesce state and notifiers" },
	{ "trigger",		cmd_trigger,		"[--min-gen N] [--json]",
	  "raise the generation to at least N and print it (privileged)" },
	{ "watch",		cmd_watch,		"[--count N] [--json]",
	  "register as a watcher; print and acknowledge each new generation" },
	{ "outdated",		cmd_outdated,		"[--json]",
	  "print how many watchers have not acknowledged the last raise" },
	{ "wait-watchers",	cmd_wait_watchers,	"[--timeout MS] [--json]",
	  "wait until no watcher is outdated (0 or no timeout: forever)" },
	{ "quiesce",		cmd_quiesce,		"[--json]",
	  "start a snapshot: libraries serve from the kernel until resume (privileged)" },
	{ "resume",		cmd_resume,		"[--json]",
	  "end a snapshot: raise the generation, clear the quiesce (privileged)" },
};

static const struct cli_command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: snapsafectl [--runtime-dir DIR] SUBCOMMAND [OPTIONS]\n\n"
		   "Subcommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %-24s %s\n", commands[i].name, commands[i].args,
			commands[i].summary);
	fprintf(f, "\nOptions:\n"
		   "  --runtime-dir DIR  the daemon's runtime directory (default: $SNAPSAFE_RUNTIME_DIR,\n"
		   "                     else " SNAPSAFE_RUNTIME_DIR_DEFAULT "); also accepted after the subcommand\n"
		   "  -h, --help         this help; SUBCOMMAND --help for one subcommand\n"
		   "  -V, --version      the version\n"
		   "\nExit codes: 0 ok, 1 failure, 2 usage, 3 daemon unreachable, 4 permission denied,\n"
		   "5 timed out, 6 connection lost. See snapsafectl(8).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "snapsafectl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see snapsafectl --help)\n");
	return CLI_EXIT_USAGE;
}

int cli_parse(int argc, char **argv, const char *value_name, bool json, struct cli_options *ret)
{
	const struct cli_command *cmd = command_find(argv[0]);
	struct option opts[4] = { { "help", no_argument, NULL, 'h' } };
	size_t n = 1;
	struct cli_options o = {};
	uint64_t v;
	int c;

	if (json)
		opts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	if (value_name)
		opts[n++] = (struct option){ value_name, required_argument, NULL, 'v' };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			printf("Usage: snapsafectl [--runtime-dir DIR] %s %s\n  %s\n", cmd->name,
			       cmd->args, cmd->summary);
			return CLI_EXIT_OK;
		case 'j':
			o.json = true;
			break;
		case 'v':
			if (parse_uint_str(optarg, 10, UINT32_MAX, &v) < 0) {
				fprintf(stderr, "snapsafectl: %s: --%s wants a number from 0 to %u, "
					"not '%s'\n", cmd->name, value_name, UINT32_MAX, optarg);
				return CLI_EXIT_USAGE;
			}
			o.value = (uint32_t)v;
			o.has_value = true;
			break;
		default:
			fprintf(stderr, "snapsafectl: %s: ", cmd->name);
			if (optopt == 'v')
				fprintf(stderr, "--%s needs a value", value_name);
			else
				fprintf(stderr, "unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "; usage: snapsafectl %s %s\n", cmd->name, cmd->args);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "snapsafectl: %s: unexpected argument '%s'; usage: snapsafectl %s %s\n",
			cmd->name, argv[optind], cmd->name, cmd->args);
		return CLI_EXIT_USAGE;
	}
	*ret = o;
	return -1;
}

int cli_unreachable(int error)
{
	fprintf(stderr, "snapsafectl: cannot reach snapsafed at %s/%s: %s (is the daemon running?)\n",
		client_runtime_dir(), SNAPSAFE_SOCKET_FILE, strerror(-error));
	return CLI_EXIT_UNREACHABLE;
}

int cli_connect(void)
{
	int fd = client_connect(NULL);

	if (fd < 0) {
		cli_unreachable(fd);
		return -1;
	}
	return fd;
}

int cli_error(const char *cmd, int error)
{
	const char *msg = strerror(-error);

	switch (-error) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
	case ENAMETOOLONG:
		return cli_unreachable(error);
	case EACCES:
	case EPERM:
		fprintf(stderr, "snapsafectl: %s: %s (needs root, an ambient "
			"CAP_CHECKPOINT_RESTORE or the daemon's control group)\n", cmd, msg);
		return CLI_EXIT_DENIED;
	case ETIMEDOUT:
		fprintf(stderr, "snapsafectl: %s: %s\n", cmd, msg);
		return CLI_EXIT_TIMEOUT;
	case EDEADLK:
		/* The daemon will not wait for watchers that the waiting process holds itself. */
		fprintf(stderr, "snapsafectl: %s: this process holds an outdated watcher\n", cmd);
		return CLI_EXIT_FAILURE;
	case ECONNRESET:
	case EPIPE:
		fprintf(stderr, "snapsafectl: %s: lost the connection to snapsafed: %s\n", cmd, msg);
		return CLI_EXIT_LOST;
	case EPROTO:
		fprintf(stderr, "snapsafectl: %s: snapsafed sent something this version does not "
			"understand: %s\n", cmd, msg);
		return CLI_EXIT_LOST;
	case EMFILE:
		fprintf(stderr, "snapsafectl: %s: snapsafed has too many clients\n", cmd);
		return CLI_EXIT_FAILURE;
	default:
		fprintf(stderr, "snapsafectl: %s: %s\n", cmd, msg);
		return CLI_EXIT_FAILURE;
	}
}

int cli_value_command(int argc, char **argv, const char *value_name, const char *request,
		      const char *json_key, const char *json_extra)
{
	struct cli_options o;
	char line[64];
	uint64_t value;
	int fd, r;

	r = cli_parse(argc, argv, value_name, true, &o);
	if (r >= 0)
		return r;
	if (value_name)
		snprintf(line, sizeof(line), "%s %" PRIu32, request, o.value);
	else
		snprintf(line, sizeof(line), "%s", request);
	fd = cli_connect();
	if (fd < 0)
		return CLI_EXIT_UNREACHABLE;
	r = client_request_value(fd, line, &value);
	close(fd);
	if (r < 0)
		return cli_error(argv[0], r);
	if (o.json)
		printf("{\"%s\":%" PRIu64 "%s}\n", json_key, value, json_extra);
	else
		printf("%" PRIu64 "\n", value);
	return CLI_EXIT_OK;
}

/*
 * Take "--runtime-dir DIR" and "--runtime-dir=DIR" out of the subcommand's arguments, so
 * that it may stand after the subcommand too. No subcommand option takes a value that
 * could be confused with it.
 */
static int take_runtime_dir(int *argc, char **argv, const char **dir)
{
	int i, j;

	for (i = 1, j = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strncmp(argv[i], "--runtime-dir=", 14) == 0) {
			*dir = argv[i] + 14;
		} else if (strcmp(argv[i], "--runtime-dir") == 0) {
			if (i + 1 >= *argc)
				return usage_error("%s needs a directory", argv[i]);
			*dir = argv[++i];
		} else {
			argv[j++] = argv[i];
		}
	}
	*argc = j;
	argv[j] = NULL;
	return -1;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	const char *dir = NULL;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("snapsafectl %s (control protocol %d)\n", SNAPSAFE_VERSION,
			       PROTOCOL_VERSION);
			return CLI_EXIT_OK;
		} else if (strncmp(argv[i], "--runtime-dir=", 14) == 0) {
			dir = argv[i] + 14;
		} else if (strcmp(argv[i], "--runtime-dir") == 0) {
			if (i + 1 >= argc)
				return usage_error("%s needs a directory", argv[i]);
			dir = argv[++i];
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = command_find(argv[i]);
	if (!cmd)
		return usage_error("unknown subcommand '%s'", argv[i]);

	argc -= i;
	argv += i;
	r = take_runtime_dir(&argc, argv, &dir);
	if (r >= 0)
		return r;
	if (dir && !*dir)
		return usage_error("%s--runtime-dir needs a non-empty directory", "");
	client_set_runtime_dir(dir);
	return cmd->run(argc, argv);
}
