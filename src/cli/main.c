/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl: the command line of the snapsafe system generation service.
 *
 *	snapsafectl [--runtime-dir DIR] [--json[=pretty]] SUBCOMMAND [OPTIONS]
 *
 * This file holds the subcommand table, the global options (--runtime-dir and --json are
 * accepted before and after the subcommand), option parsing and the one-number requests the
 * subcommands share. How results and errors are printed is output.c; the connection and the
 * errno -> message -> exit code mapping of docs/cli.md is connect.c. Each subcommand is in a
 * file of its own name.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
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
	{ "status",		cmd_status,		"",
	  "show the daemon, generation, epoch, watchers, quiesce, notifiers" },
	{ "trigger",		cmd_trigger,		"[--min-gen N]",
	  "raise the generation to at least N and print it (privileged)" },
	{ "watch",		cmd_watch,		"[--count N]",
	  "register as a watcher; print and acknowledge each new generation" },
	{ "watchers",		cmd_watchers,		"",
	  "list the watchers: who, acknowledged what, outdated for how long" },
	{ "outdated",		cmd_outdated,		"",
	  "print how many watchers have not acknowledged the last raise" },
	{ "wait-watchers",	cmd_wait_watchers,	"[--timeout MS]",
	  "wait until no watcher is outdated (0: check once; none: forever)" },
	{ "quiesce",		cmd_quiesce,		"",
	  "start a snapshot: the kernel serves until resume (privileged)" },
	{ "resume",		cmd_resume,		"",
	  "end a snapshot: raise the generation, unquiesce (privileged)" },
	{ "metrics",		cmd_metrics,		"",
	  "the daemon's counters in the Prometheus text format" },
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
	fprintf(f, "Usage: snapsafectl [--runtime-dir DIR] [--json[=pretty]] SUBCOMMAND [OPTIONS]\n\n"
		   "Subcommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %-15s %s\n", commands[i].name, commands[i].args,
			commands[i].summary);
	fprintf(f, "\nOptions (also accepted after the subcommand):\n"
		   "  --runtime-dir DIR  the daemon's runtime directory (default: $SNAPSAFE_RUNTIME_DIR,\n"
		   "                     else " SNAPSAFE_RUNTIME_DIR_DEFAULT ")\n"
		   "  --json             JSON on stdout, one value per line, errors included\n"
		   "  --json=pretty      the same, indented\n"
		   "  --vsock CID:PORT   act on the snapsafed of a guest over vsock (repeatable)\n"
		   "  --vsock-uds PATH:PORT  the same through a hybrid vsock Unix socket\n"
		   "                     (Firecracker, vhost-device-vsock; repeatable)\n"
		   "  --targets FILE     more targets, one a line (vsock:CID:PORT,\n"
		   "                     vsock-uds:PATH:PORT, unix:DIR; '-': stdin)\n"
		   "  --deadline MS      how long targets are tried (default 30000)\n"
		   "  --parallel N       connections at most at once (default 256)\n"
		   "  -h, --help         this help; SUBCOMMAND --help for one subcommand\n"
		   "  -V, --version      the version\n"
		   "\nExit codes: 0 ok, 1 failure, 2 usage, 3 daemon unreachable, 4 permission denied,\n"
		   "5 timed out, 6 connection lost, 7 stale page (status), 8 some targets failed.\n"
		   "See snapsafectl(8) and, for --vsock and --targets, docs/fleet.md.\n");
}

/* A mistake on the global command line: the message, and where the help is. */
static __attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cli_fail(CLI_EXIT_USAGE, 0, "%s (see snapsafectl --help)", msg);
}

int cli_parse(int argc, char **argv, const char *value_name, struct cli_options *ret)
{
	const struct cli_command *cmd = command_find(argv[0]);
	struct option opts[3] = { { "help", no_argument, NULL, 'h' } };
	struct cli_options o = {};
	uint64_t v;
	int c;

	if (value_name)
		opts[1] = (struct option){ value_name, required_argument, NULL, 'v' };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			printf("Usage: snapsafectl [--runtime-dir DIR] [--json[=pretty]] %s%s%s\n"
			       "  %s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args, cmd->summary);
			return CLI_EXIT_OK;
		case 'v':
			if (parse_uint_str(optarg, 10, UINT32_MAX, &v) < 0)
				return cli_fail(CLI_EXIT_USAGE, 0, "%s: --%s wants a number from 0 "
						"to %u, not '%s' (see snapsafectl %s --help)",
						cmd->name, value_name, UINT32_MAX, optarg, cmd->name);
			o.value = (uint32_t)v;
			o.has_value = true;
			break;
		default:
			if (optopt == 'v')
				return cli_fail(CLI_EXIT_USAGE, 0, "%s: --%s needs a value (see "
						"snapsafectl %s --help)", cmd->name, value_name,
						cmd->name);
			return cli_fail(CLI_EXIT_USAGE, 0, "%s: unknown option '%s' (see "
					"snapsafectl %s --help)", cmd->name, argv[optind - 1],
					cmd->name);
		}
	}
	if (optind < argc)
		return cli_fail(CLI_EXIT_USAGE, 0, "%s: unexpected argument '%s' (see snapsafectl "
				"%s --help)", cmd->name, argv[optind], cmd->name);
	*ret = o;
	return -1;
}

int cli_value_command(int argc, char **argv, const char *value_name, const char *request,
		      const char *json_key, const char *flag_key, bool flag)
{
	struct cli_options o;
	struct json j;
	char line[64];
	uint64_t value;
	int fd, r;

	r = cli_parse(argc, argv, value_name, &o);
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
	if (cli_json == CLI_JSON_OFF) {
		printf("%" PRIu64 "\n", value);
		return CLI_EXIT_OK;
	}
	json_begin(&j);
	json_object(&j, NULL);
	json_u64(&j, json_key, value);
	if (flag_key)
		json_bool(&j, flag_key, flag);
	json_close(&j, '}');
	return cli_json_end(&j);
}

/* The global options that take a value: both "--name VALUE" and "--name=VALUE". */
enum global_option {
	GLOBAL_RUNTIME_DIR, GLOBAL_VSOCK, GLOBAL_VSOCK_UDS, GLOBAL_TARGETS, GLOBAL_DEADLINE,
	GLOBAL_PARALLEL, _GLOBAL_MAX,
};

static const char *const global_names[_GLOBAL_MAX] = {
	[GLOBAL_RUNTIME_DIR] = "--runtime-dir", [GLOBAL_VSOCK] = "--vsock",
	[GLOBAL_VSOCK_UDS] = "--vsock-uds", [GLOBAL_TARGETS] = "--targets",
	[GLOBAL_DEADLINE] = "--deadline", [GLOBAL_PARALLEL] = "--parallel",
};

/* Which global option @arg is; its value in @ret_value (NULL: the next argument). */
static int global_option(const char *arg, const char **ret_value)
{
	for (int i = 0; i < _GLOBAL_MAX; i++) {
		size_t len = strlen(global_names[i]);

		if (strncmp(arg, global_names[i], len) != 0)
			continue;
		if (arg[len] == '\0') {
			*ret_value = NULL;
			return i;
		}
		if (arg[len] == '=') {
			*ret_value = arg + len + 1;
			return i;
		}
	}
	return -1;
}

/* A fleet option's value. Return: -1 to go on, else an exit code (reported). */
static int take_fleet_option(int opt, const char *value)
{
	struct target t;
	char why[512];
	uint64_t v;
	int r;

	switch (opt) {
	case GLOBAL_VSOCK:
	case GLOBAL_VSOCK_UDS:
		if (target_parse_kind(opt == GLOBAL_VSOCK ? TARGET_VSOCK : TARGET_VSOCK_UDS, value,
				      &t, why, sizeof(why)) < 0)
			return usage_error("%s: %s", global_names[opt], why);
		if (targets_add(&cli_fleet.targets, &t) < 0)
			return cli_fail(CLI_EXIT_FAILURE, -ENOMEM, "out of memory");
		return -1;
	case GLOBAL_TARGETS:
		r = targets_read_file(value, &cli_fleet.targets, why, sizeof(why));
		if (r == -EINVAL)
			return usage_error("--targets: %s", why);
		if (r < 0)
			return cli_fail(CLI_EXIT_FAILURE, r, "--targets: %s", why);
		return -1;
	case GLOBAL_DEADLINE:
		if (parse_uint_str(value, 10, UINT32_MAX, &v) < 0 || v == 0)
			return usage_error("--deadline wants milliseconds, 1 or more, not '%s'",
					   value);
		cli_fleet.deadline_ms = v;
		return -1;
	case GLOBAL_PARALLEL:
		if (parse_uint_str(value, 10, 65536, &v) < 0 || v == 0)
			return usage_error("--parallel wants a number from 1 to 65536, not '%s'",
					   value);
		cli_fleet.parallel = (unsigned)v;
		return -1;
	}
	return -1;
}

/*
 * Take the global options out of the arguments wherever they stand, so that they may come
 * after the subcommand too: "--json", "--json=MODE", and those of global_names, as
 * "--name VALUE" or "--name=VALUE". No subcommand option takes a value that could be
 * confused with them. "--" ends the scan. Mistakes are reported after the scan, once
 * --json is known, so that they are JSON too when it asks for it.
 */
static int take_global_options(int *argc, char **argv, const char **dir, bool *ret_fleet_tuned)
{
	const char *bad_json = NULL, *missing = NULL;
	/* As many as there are arguments: a fleet may be a hundred --vsock options. */
	const char **values = calloc((size_t)*argc, sizeof(*values));
	int *opts = calloc((size_t)*argc, sizeof(*opts));
	int n = 0, i, j, r = -1;

	if (!values || !opts) {
		free(values);
		free(opts);
		return cli_fail(CLI_EXIT_FAILURE, -ENOMEM, "out of memory");
	}
	for (i = 1, j = 1; i < *argc; i++) {
		const char *value;
		int opt;

		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		opt = global_option(argv[i], &value);
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--json=short") == 0) {
			cli_json = CLI_JSON_SHORT;
		} else if (strcmp(argv[i], "--json=pretty") == 0) {
			cli_json = CLI_JSON_PRETTY;
		} else if (strncmp(argv[i], "--json=", 7) == 0) {
			bad_json = argv[i];
		} else if (opt >= 0) {
			if (!value && i + 1 < *argc)
				value = argv[++i];
			if (!value) {
				missing = global_names[opt];
			} else {
				opts[n] = opt;
				values[n++] = value;
			}
		} else {
			argv[j++] = argv[i];
		}
	}
	*argc = j;
	argv[j] = NULL;
	if (bad_json) {
		if (cli_json == CLI_JSON_OFF)
			cli_json = CLI_JSON_SHORT;
		r = usage_error("%s: the JSON modes are --json (one line) and --json=pretty",
				bad_json);
	} else if (missing) {
		r = usage_error("%s needs a value", missing);
	}
	for (i = 0; r < 0 && i < n; i++) {
		if (opts[i] == GLOBAL_RUNTIME_DIR) {
			*dir = values[i];
			continue;
		}
		*ret_fleet_tuned |= opts[i] == GLOBAL_DEADLINE || opts[i] == GLOBAL_PARALLEL;
		r = take_fleet_option(opts[i], values[i]);
		/* An empty targets file must not fall back to the local daemon. */
		if (r < 0 && opts[i] == GLOBAL_TARGETS && cli_fleet.targets.n == 0)
			r = usage_error("--targets %s names no target", values[i]);
	}
	free(values);
	free(opts);
	return r;
}

static int run(int argc, char **argv, const char **ret_cmd)
{
	const struct cli_command *cmd;
	const char *dir = NULL;
	bool fleet_tuned = false;
	int i, r;

	r = take_global_options(&argc, argv, &dir, &fleet_tuned);
	if (r >= 0)
		return r;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("snapsafectl %s (control protocol %d)\n", SNAPSAFE_VERSION,
			       PROTOCOL_VERSION);
			return CLI_EXIT_OK;
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		if (cli_json != CLI_JSON_OFF)
			return usage_error("no subcommand");
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = command_find(argv[i]);
	if (!cmd)
		return usage_error("unknown subcommand '%s'", argv[i]);
	if (dir && !*dir)
		return usage_error("--runtime-dir needs a non-empty directory");
	*ret_cmd = cmd->name;
	if (cli_fleet.targets.n > 0) {
		if (dir)
			return usage_error("--runtime-dir and fleet targets: name a local daemon as "
					   "unix:DIR in --targets");
		return cli_fleet_command(argc - i, argv + i);
	}
	if (fleet_tuned)
		return usage_error("--deadline and --parallel apply to --vsock, --vsock-uds and "
				   "--targets only");
	client_set_runtime_dir(dir);
	return cmd->run(argc - i, argv + i);
}

int main(int argc, char **argv)
{
	const char *cmd = NULL;
	int r = run(argc, argv, &cmd);

	return cli_finish_stdout(cmd, r);
}
