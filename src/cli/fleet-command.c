/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl SUBCOMMAND with --vsock, --vsock-uds or --targets (docs/fleet.md): the
 * subcommands a control plane runs around a snapshot (status, quiesce, resume, trigger,
 * wait-watchers), sent to every target at once by fleet.c. One result per target as it
 * comes in: a line of text, or with --json one object that names the target; then the exit
 * code: 0 when every target succeeded, else the one target's own code, or with several
 * targets CLI_EXIT_PARTIAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "fleet.h"
#include "protocol.h"
#include "snapsafectl.h"

/* main.c fills it from the global options. */
struct cli_fleet cli_fleet = {
	.deadline_ms = FLEET_DEADLINE_DEFAULT_MS,
	.parallel = FLEET_PARALLEL_DEFAULT,
};

/* What one subcommand sends and how its reply reads. */
struct fleet_command {
	const char *name;
	const char *value_name;		/* its numeric option, or NULL */
	const char *request;		/* the request word; the option's value follows it */
	const char *json_key;		/* an OK's number as a member, or NULL (STATUS, WAIT) */
	int quiesced;			/* the "quiesced" member after it: 0, 1, -1 none */
};

static const struct fleet_command fleet_commands[] = {
	{ "status",		NULL,		"STATUS",	NULL,		-1 },
	{ "quiesce",		NULL,		"QUIESCE",	"generation",	1 },
	{ "resume",		NULL,		"RESUME",	"generation",	0 },
	{ "trigger",		"min-gen",	"TRIGGER",	"generation",	-1 },
	{ "wait-watchers",	"timeout",	"WAIT",		NULL,		-1 },
};

struct run {
	const struct fleet_command *cmd;
	size_t total, failed;
	int last_code;
};

bool cli_fleet_supports(const char *name)
{
	for (size_t i = 0; i < sizeof(fleet_commands) / sizeof(fleet_commands[0]); i++)
		if (strcmp(fleet_commands[i].name, name) == 0)
			return true;
	return false;
}

/* A target that gave no reply: which exit code and what to say. */
static int no_reply(const struct fleet_result *r, char *why, size_t size)
{
	int code = CLI_EXIT_UNREACHABLE;

	if (strcmp(r->failed_at, "request") == 0)
		code = r->error == -ETIMEDOUT ? CLI_EXIT_TIMEOUT : CLI_EXIT_LOST;
	snprintf(why, size, "%s: %s (%u attempt%s in %" PRIu64 " ms)",
		 code == CLI_EXIT_UNREACHABLE ? r->failed_at : "no reply",
		 strerror(-r->error), r->attempts, r->attempts == 1 ? "" : "s", r->ms);
	return code;
}

/* A daemon's ERR: the code docs/cli.md gives it. */
static int err_reply(const struct fleet_command *cmd, const struct protocol_line *l, char *why,
		     size_t size)
{
	const char *hint = "";
	int code;

	switch (l->error) {
	case EACCES:
	case EPERM:
		code = CLI_EXIT_DENIED;
		if (!memmem(l->words, l->words_len, "--vsock-allow", 13))
			hint = " (over vsock: the daemon's --vsock-allow decides)";
		break;
	case ETIMEDOUT:
		code = CLI_EXIT_TIMEOUT;
		break;
	default:
		code = CLI_EXIT_FAILURE;
	}
	snprintf(why, size, "%s: %s: %.*s%s", cmd->name, strerror(l->error), (int)l->words_len,
		 l->words, hint);
	return code;
}

static void json_status(struct json *j, const struct protocol_status *st)
{
	char hex[16];

	json_u64(j, "generation", st->generation);
	json_u64(j, "epoch", st->epoch);
	snprintf(hex, sizeof(hex), "0x%08" PRIx32, st->epoch);
	json_string(j, "epoch_hex", hex);
	json_bool(j, "quiesced", st->quiesced);
	json_u64(j, "watchers", st->watchers);
	json_u64(j, "outdated", st->outdated);
	if (st->daemon_pid)
		json_u64(j, "pid", st->daemon_pid);
	if (st->daemon_version[0])
		json_string(j, "daemon_version", st->daemon_version);
}

static void json_wait(struct json *j, bool timed_out, const struct control_pids *pids)
{
	json_bool(j, "timed_out", timed_out);
	json_array(j, "outdated_pids");
	for (unsigned i = 0; pids && i < pids->n; i++)
		json_u64(j, NULL, pids->pid[i]);
	json_close(j, ']');
	json_bool(j, "outdated_pids_truncated", pids && pids->truncated);
}

/* The result of one target, for people. */
static void print_text(const struct target *t, const struct fleet_command *cmd,
		       const struct fleet_result *r, const struct protocol_line *l,
		       const struct protocol_status *st, int code, const char *why)
{
	if (code != CLI_EXIT_OK)
		printf("%s: failed: %s\n", t->name, why);
	else if (st)
		printf("%s: generation %" PRIu32 "%s, %" PRIu64 " watcher(s), %" PRIu64
		       " outdated (%" PRIu64 " ms)\n", t->name, st->generation,
		       st->quiesced ? ", quiesced" : "", st->watchers, st->outdated, r->ms);
	else if (cmd->json_key)
		printf("%s: generation %" PRIu64 "%s (%" PRIu64 " ms)\n", t->name, l->value,
		       cmd->quiesced == 1 ? ", quiesced" : "", r->ms);
	else
		printf("%s: no watcher outdated (%" PRIu64 " ms)\n", t->name, r->ms);
}

static void target_done(const struct target *t, const struct fleet_result *r, void *userdata)
{
	struct run *run = userdata;
	const struct fleet_command *cmd = run->cmd;
	struct protocol_status st = {}, *status = NULL;
	struct control_pids pids = {};
	struct protocol_line l = {};
	int code = CLI_EXIT_OK, error = 0;
	char why[PROTOCOL_REPLY_MAX + 128] = "";
	struct json j;

	if (!r->replied) {
		code = no_reply(r, why, sizeof(why));
		error = r->error;
	} else if (protocol_line_parse(r->reply, strlen(r->reply), &l) < 0 ||
		   l.kind == PROTOCOL_LINE_GEN) {
		code = CLI_EXIT_LOST;
		error = -EPROTO;
		snprintf(why, sizeof(why), "%s: a reply this version does not understand",
			 cmd->name);
	} else if (l.kind == PROTOCOL_LINE_ERR) {
		code = err_reply(cmd, &l, why, sizeof(why));
		error = -l.error;
		if (l.error == ETIMEDOUT)
			control_parse_pids(l.words, l.words_len, &pids);
	} else if (!cmd->json_key && strcmp(cmd->request, "STATUS") == 0) {
		if (protocol_status_parse(l.words, l.words_len, &st) < 0) {
			code = CLI_EXIT_LOST;
			error = -EPROTO;
			snprintf(why, sizeof(why), "status: a STATUS reply this version does not "
				 "understand");
		} else {
			status = &st;
		}
	} else if (cmd->json_key && !l.has_value) {
		code = CLI_EXIT_LOST;
		error = -EPROTO;
		snprintf(why, sizeof(why), "%s: the reply carries no number", cmd->name);
	}
	run->failed += code != CLI_EXIT_OK;
	run->last_code = code != CLI_EXIT_OK ? code : run->last_code;
	if (cli_json == CLI_JSON_OFF) {
		print_text(t, cmd, r, &l, status, code, why);
		fflush(stdout);
		return;
	}
	json_begin(&j);
	json_object(&j, NULL);
	json_string(&j, "target", t->name);
	json_bool(&j, "ok", code == CLI_EXIT_OK);
	json_u64(&j, "ms", r->ms);
	json_u64(&j, "attempts", r->attempts);
	if (status)
		json_status(&j, status);
	else if (code == CLI_EXIT_OK && cmd->json_key)
		json_u64(&j, cmd->json_key, l.value);
	if (code == CLI_EXIT_OK && cmd->quiesced >= 0)
		json_bool(&j, "quiesced", cmd->quiesced);
	if (strcmp(cmd->request, "WAIT") == 0 && (code == CLI_EXIT_OK || pids.known))
		json_wait(&j, code != CLI_EXIT_OK, &pids);
	if (code != CLI_EXIT_OK) {
		json_string(&j, "error", why);
		if (cli_errno_name(error))
			json_string(&j, "errno", cli_errno_name(error));
		else
			json_null(&j, "errno");
		json_u64(&j, "exit", (uint64_t)code);
	}
	json_close(&j, '}');
	(void)cli_json_end(&j);
	fflush(stdout);
}

int cli_fleet_command(int argc, char **argv)
{
	const struct fleet_command *cmd = NULL;
	struct fleet_params fp = { .deadline_ms = cli_fleet.deadline_ms,
				   .parallel = cli_fleet.parallel,
				   .reply_ms = FLEET_ATTEMPT_MS };
	struct run run = { .total = cli_fleet.targets.n };
	struct cli_options o;
	char request[64];
	int r;

	for (size_t i = 0; i < sizeof(fleet_commands) / sizeof(fleet_commands[0]); i++)
		if (strcmp(fleet_commands[i].name, argv[0]) == 0)
			cmd = &fleet_commands[i];
	if (!cmd)
		return cli_fail(CLI_EXIT_USAGE, 0, "%s does not act on --vsock, --vsock-uds or "
				"--targets (status, quiesce, resume, trigger and wait-watchers do)",
				argv[0]);
	r = cli_parse(argc, argv, cmd->value_name, &o);
	if (r >= 0)
		return r;
	run.cmd = cmd;
	if (strcmp(cmd->request, "WAIT") == 0) {
		/* As locally: none waits (here: until the deadline), 0 checks once. */
		uint32_t ms = !o.has_value ? 0 : o.value == 0 ? 1 : o.value;

		snprintf(request, sizeof(request), "WAIT %" PRIu32, ms);
		fp.reply_ms = o.has_value ? (uint64_t)ms + FLEET_ATTEMPT_MS : 0;
		if (o.has_value)
			fp.deadline_ms += ms;
	} else if (cmd->value_name) {
		snprintf(request, sizeof(request), "%s %" PRIu32, cmd->request, o.value);
	} else {
		snprintf(request, sizeof(request), "%s", cmd->request);
	}
	fp.request = request;
	r = fleet_run(cli_fleet.targets.v, cli_fleet.targets.n, &fp, target_done, &run);
	if (r < 0)
		return cli_fail(CLI_EXIT_FAILURE, r, "%s: %s", cmd->name, strerror(-r));
	if (run.failed == 0)
		return CLI_EXIT_OK;
	if (run.total == 1)
		return run.last_code;
	fprintf(stderr, "snapsafectl: %s: %zu of %zu targets failed\n", cmd->name, run.failed,
		run.total);
	return CLI_EXIT_PARTIAL;
}
