// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * retrofit-loop: runs a command that prints 16 random bytes in hex (`openssl rand -hex 16`)
 * every <interval> ms, for ever, and prints each run as a draw (retrofit.h), for the retrofit
 * scenario (vm-retrofit-test.py). Each run is a new process, which seeds its generator anew:
 * the command is the program under test, this loop only the shell around it, with the
 * generation read before the fork and after the wait.
 *
 *   retrofit-loop <name> <interval-ms> <fn> <report-file> <command> [<argument>...]
 *
 * <report-file> is passed to the command as VM_OBSERVE_REPORT: the provider's observed build
 * (provider-observe.c) writes there at exit how many of the process's requests its engine
 * served and how many went to the kernel, which gives the draw's path (without a report,
 * "-"). Any other output, or a command that fails, is an RERROR line and the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "retrofit.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The command's output as 16 bytes: exactly 32 hex digits and a newline. */
static bool parse_output(const char *out, uint8_t *buf)
{
	if (strlen(out) != 2 * RETROFIT_BYTES + 1 || out[2 * RETROFIT_BYTES] != '\n')
		return false;
	for (size_t i = 0; i < RETROFIT_BYTES; i++) {
		int hi = hex_digit(out[2 * i]), lo = hex_digit(out[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static const char *report_path(const char *file)
{
	unsigned long long engine, kernel;
	FILE *f = fopen(file, "re");
	int n;

	if (!f)
		return "-";
	n = fscanf(f, "engine=%llu kernel=%llu", &engine, &kernel);
	fclose(f);
	if (n != 2)
		return "?";
	if (engine == 0)
		return "kernel";
	return kernel == 0 ? "engine" : "mixed";
}

/* One run of the command: its output (at most size - 1 bytes) and its wait status. */
static int run(char **cmd, char *out, size_t size, int *ret_status)
{
	size_t used = 0;
	int fds[2];
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(cmd[0], cmd);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + used, size - 1 - used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		used += (size_t)n;
		if (used == size - 1)
			break;
	}
	out[used] = '\0';
	close(fds[0]);
	while (waitpid(pid, ret_status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int main(int argc, char **argv)
{
	const struct snapsafe_page *page;
	const char *prog, *fn, *report;
	unsigned int interval_ms;

	if (argc < 6) {
		fprintf(stderr, "usage: retrofit-loop <name> <interval-ms> <fn> <report-file> "
			"<command> [<argument>...]\n");
		return 2;
	}
	prog = argv[1];
	interval_ms = (unsigned int)strtoul(argv[2], NULL, 10);
	fn = argv[3];
	report = argv[4];
	page = retrofit_page(prog);
	if (setenv("VM_OBSERVE_REPORT", report, 1) < 0)
		return 1;
	console_line("RSTART prog=%s command=%s", prog, argv[5]);

	for (uint64_t seq = 0;; seq++) {
		uint8_t buf[RETROFIT_BYTES];
		uint32_t gen_before, gen_after;
		char out[256];
		uint64_t mono;
		int r, status = 0;

		unlink(report);
		gen_before = retrofit_generation(page);
		mono = retrofit_now();
		r = run(argv + 5, out, sizeof(out), &status);
		gen_after = retrofit_generation(page);
		if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    !parse_output(out, buf)) {
			out[strcspn(out, "\n")] = '\0';
			console_line("RERROR prog=%s %s: error %d, wait status %#x, output '%.64s'",
				      prog, argv[5], r, status, out);
			return 1;
		}
		retrofit_draw_line(prog, fn, seq, gen_before, gen_after, report_path(report),
				   mono, buf);
		retrofit_sleep_ms(interval_ms);
	}
}
