/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl's side of the connection: connect to <runtime dir>/control.sock, and when that
 * fails, say precisely why, because "No such file or directory" does not tell an operator
 * whether the daemon is down or the directory is wrong. The runtime directory is examined
 * only after a failure, so a working connection costs no extra system call. Also the errno
 * -> message -> exit code mapping of docs/cli.md for replies.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "runtime-dir.h"
#include "snapsafectl.h"

#ifndef SNAPSAFE_VERSION
#define SNAPSAFE_VERSION "unknown"
#endif

bool cli_unreachable_reason(int error, char *buf, size_t size)
{
	const char *dir = client_runtime_dir();
	size_t path_len = strlen(dir) + 1 + strlen(SNAPSAFE_SOCKET_FILE);
	struct sockaddr_un sa;
	char sock[sizeof(sa.sun_path) + 64];
	struct stat st;

	if (path_len >= sizeof(sa.sun_path)) {
		snprintf(buf, size, "the path is %zu bytes, longer than the %zu a Unix socket "
			 "address holds (use a shorter runtime directory)", path_len,
			 sizeof(sa.sun_path) - 1);
		return true;
	}
	if (stat(dir, &st) < 0) {
		switch (errno) {
		case ENOENT:
			snprintf(buf, size, "the runtime directory %s does not exist (is the daemon "
				 "running?)", dir);
			break;
		case ENOTDIR:
			snprintf(buf, size, "the runtime directory %s is not a directory: a part of "
				 "its path is a file", dir);
			break;
		case EACCES:
			snprintf(buf, size, "permission denied: uid %u may not search a directory "
				 "above the runtime directory %s", (unsigned)geteuid(), dir);
			break;
		default:
			snprintf(buf, size, "cannot examine the runtime directory %s: %s", dir,
				 strerror(errno));
		}
		return true;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(buf, size, "the runtime directory %s is not a directory", dir);
		return true;
	}
	if (access(dir, X_OK) < 0 && errno == EACCES) {
		snprintf(buf, size, "permission denied: uid %u may not enter the runtime directory "
			 "%s (mode %04o, owner uid %u)", (unsigned)geteuid(), dir,
			 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		return true;
	}
	switch (-error) {
	case ENOENT:
	case ECONNREFUSED:
		snprintf(buf, size, "%s (is the daemon running?)", strerror(-error));
		break;
	case EACCES:
	case EPERM:
		snprintf(sock, sizeof(sock), "%s/%s", dir, SNAPSAFE_SOCKET_FILE);
		if (stat(sock, &st) == 0)
			snprintf(buf, size, "%s: uid %u may not connect to it (mode %04o, owner "
				 "uid %u)", strerror(-error), (unsigned)geteuid(),
				 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		else
			snprintf(buf, size, "%s", strerror(-error));
		break;
	default:
		snprintf(buf, size, "%s", strerror(-error));
	}
	return false;
}

int cli_unreachable(int error)
{
	char why[512];

	cli_unreachable_reason(error, why, sizeof(why));
	return cli_fail(CLI_EXIT_UNREACHABLE, error, "cannot reach snapsafed at %s/%s: %s",
			client_runtime_dir(), SNAPSAFE_SOCKET_FILE, why);
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
		return cli_fail(CLI_EXIT_DENIED, error, "%s: %s (needs root, an ambient "
				"CAP_CHECKPOINT_RESTORE or the daemon's control group)", cmd, msg);
	case ETIMEDOUT:
		return cli_fail(CLI_EXIT_TIMEOUT, error, "%s: %s", cmd, msg);
	case EDEADLK:
		/* The daemon will not wait for watchers that the waiting process holds itself. */
		return cli_fail(CLI_EXIT_FAILURE, error, "%s: this process holds an outdated "
				"watcher", cmd);
	case ECONNRESET:
	case EPIPE:
		return cli_fail(CLI_EXIT_LOST, error, "%s: lost the connection to snapsafed: %s",
				cmd, msg);
	case EPROTO:
		return cli_fail(CLI_EXIT_LOST, error, "%s: snapsafed sent something this version "
				"does not understand: %s", cmd, msg);
	case EMFILE:
		return cli_fail(CLI_EXIT_FAILURE, error, "%s: snapsafed has too many clients", cmd);
	default:
		return cli_fail(CLI_EXIT_FAILURE, error, "%s: %s", cmd, msg);
	}
}

int cli_too_old(const char *cmd, const char *request, int error, const char *text, size_t len)
{
	static const char unknown[] = "unknown request";

	/* What every daemon answers to a request word it does not know (docs/protocol.md). */
	if (error != -EINVAL || len < sizeof(unknown) - 1 ||
	    memcmp(text, unknown, sizeof(unknown) - 1) != 0)
		return -1;
	return cli_fail(CLI_EXIT_FAILURE, error, "%s: this snapsafed is too old: it does not know "
			"the %s request (snapsafectl %s does); upgrade and restart snapsafed", cmd,
			request, SNAPSAFE_VERSION);
}
