// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * guest-agent: the host's command channel into a test guest, on a serial port.
 *
 * The host writes one request per line to the port (the guest's ttyS1, a socket on
 * the host side) and reads the replies from the same port:
 *
 *   MARK <tag>          -> MARK <tag> mono=<ns> real=<ns>
 *   RUN <id> <command>  -> BEGIN <id>, the command's output, END <id> rc=<rc> mono=<ns>
 *
 * MARK is stamped with CLOCK_MONOTONIC right after read() returns. The host sends
 * "MARK resume" while a restored clone is still paused, so the bytes wait in the
 * emulated UART and the stamp is the guest's first moment after the resume, in the
 * guest's own clock: the origin for measuring the window after a clone resumes
 * (the guest's CLOCK_REALTIME is the snapshot's until something corrects it, so it
 * cannot be compared with the host's).
 *
 * RUN runs "/bin/sh -c <command>" with output to a file, waits for it and sends the
 * file: a command that must keep running starts itself in the background with its
 * own redirections. One request at a time; nothing here is needed after a failure
 * except the port, so errors are reported on stderr (the console) and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum {
	LINE_MAX_LEN = 4096,
};

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("guest-agent: write");
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void run_command(int port, const char *id, const char *cmd)
{
	char out_path[64], buf[4096];
	int status = 0, rc, fd;
	pid_t pid;
	ssize_t n;

	snprintf(out_path, sizeof(out_path), "/tmp/.agent-%.32s.out", id);
	pid = fork();
	if (pid < 0) {
		reply(port, "BEGIN %s\nfork: %s\nEND %s rc=127 mono=0\n", id, strerror(errno), id);
		return;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY), out;

		out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		close(port);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	reply(port, "BEGIN %s\n", id);
	fd = open(out_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char last = '\n';

		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			write_all(port, buf, (size_t)n);
			last = buf[n - 1];
		}
		close(fd);
		if (last != '\n')
			write_all(port, "\n", 1);
	}
	unlink(out_path);
	reply(port, "END %s rc=%d mono=%" PRIu64 "\n", id, rc, now_ns(CLOCK_MONOTONIC));
}

static void handle_line(int port, char *line, uint64_t mono, uint64_t real)
{
	char *sp;

	if (strncmp(line, "MARK ", 5) == 0) {
		reply(port, "MARK %s mono=%" PRIu64 " real=%" PRIu64 "\n", line + 5, mono, real);
		return;
	}
	if (strncmp(line, "RUN ", 4) == 0 && (sp = strchr(line + 4, ' ')) != NULL) {
		*sp = '\0';
		run_command(port, line + 4, sp + 1);
		return;
	}
	if (line[0] != '\0')
		reply(port, "ERR unknown request: %.64s\n", line);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/ttyS1";
	static char line[LINE_MAX_LEN];
	size_t used = 0;
	struct termios tio;
	int port;

	port = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (port < 0) {
		fprintf(stderr, "guest-agent: %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* Raw: no echo of the host's requests, no line editing, no CR/LF rewriting. */
	if (tcgetattr(port, &tio) == 0) {
		cfmakeraw(&tio);
		cfsetispeed(&tio, B115200);
		cfsetospeed(&tio, B115200);
		tcsetattr(port, TCSANOW, &tio);
	}
	reply(port, "AGENT READY\n");

	for (;;) {
		char buf[512];
		uint64_t mono, real;
		ssize_t n = read(port, buf, sizeof(buf));

		mono = now_ns(CLOCK_MONOTONIC);
		real = now_ns(CLOCK_REALTIME);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("guest-agent: read");
			return 1;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] != '\n') {
				if (used < sizeof(line) - 1)
					line[used++] = buf[i];
				continue;
			}
			line[used] = '\0';
			used = 0;
			handle_line(port, line, mono, real);
		}
	}
}
