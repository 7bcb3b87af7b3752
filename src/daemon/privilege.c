/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * May the peer of a control connection trigger, quiesce and resume? The rights are those
 * of the process that connected, as the kernel reports them: SO_PEERCRED (its uid, gid
 * and pid at connect time) and, for CAP_CHECKPOINT_RESTORE and the supplementary groups,
 * /proc/<pid>/status at request time. Nothing the client sends counts. What the /proc read
 * alone cannot tell is checked around it:
 *
 * - The capability is held in the daemon's user namespace. Any user can be root with
 *   every capability in a user namespace of its own (unshare -r), and CapEff shows
 *   those; they count only there. So CAP_CHECKPOINT_RESTORE counts only for a peer in
 *   the daemon's own user namespace (a peer in an ancestor namespace needs uid 0 or
 *   the group).
 * - The process is still the one that connected. Its pidfd (SO_PEERPIDFD, Linux 6.5)
 *   reports whether it exited; if it did, the pid may belong to another process by now.
 *   Older kernels have no pidfd for the peer: the pid is trusted as before.
 * - It is still the same identity. An unprivileged process can queue a request, then
 *   exec a setuid-root program that keeps the socket: /proc then shows euid 0 and every
 *   capability, which must not be lent to the request. So every uid in /proc (real,
 *   effective, saved, file system) must still be the SO_PEERCRED uid, read in the same
 *   read of the status file as the capabilities and groups.
 * Root at connect time (SO_PEERCRED uid 0) is privileged for the life of the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "missing.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77		/* Linux 6.5 */
#endif

enum { STATUS_MAX = 8192 };

/* Read /proc/<pid>/status into @buf (NUL-terminated). */
static int read_status(pid_t pid, char *buf, size_t size)
{
	char path[64];
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (off < size - 1) {
		ssize_t n = read(fd, buf + off, size - 1 - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return (int)n;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}

/* The value after "<key>:" at the start of a line, or NULL. */
static const char *status_field(const char *buf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return p + klen + 1;
	return NULL;
}

/* Return: 1 when all four uids (real, effective, saved, fs) are @uid, 0 when not. */
static int uids_are(const char *status, uid_t uid)
{
	const char *v = status_field(status, "Uid");
	unsigned long u[4];

	if (!v || sscanf(v, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) != 4)
		return -EPROTO;
	return u[0] == uid && u[1] == uid && u[2] == uid && u[3] == uid;
}

static int has_checkpoint_restore(const char *status)
{
	const char *v = status_field(status, "CapEff");
	unsigned long long caps;
	char *end;

	if (!v)
		return -EPROTO;
	errno = 0;
	caps = strtoull(v, &end, 16);
	if (errno || end == v)
		return -EPROTO;
	return (caps >> CAP_CHECKPOINT_RESTORE) & 1;
}

/* Is @gid the primary group @peer_gid or one of the supplementary groups in @status? */
static int in_group(const char *status, gid_t peer_gid, gid_t gid)
{
	const char *v;

	if (peer_gid == gid)
		return 1;
	v = status_field(status, "Groups");
	if (!v)
		return 0;
	while (*v && *v != '\n') {
		unsigned long g;
		char *end;

		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\n' || !*v)
			break;
		g = strtoul(v, &end, 10);
		if (end == v)
			return -EPROTO;
		if (g == (unsigned long)gid)
			return 1;
		v = end;
	}
	return 0;
}

/* Return: 1 when @pid is in our user namespace, 0 when not, <0 when it cannot tell. */
static int in_our_user_ns(pid_t pid)
{
	struct stat ours, theirs;
	char path[64];

	if (stat("/proc/self/ns/user", &ours) < 0)
		return errno == ENOENT ? 1 : -errno;	/* no user namespaces at all */
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &theirs) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/* Has the process behind @pidfd exited? (A pidfd polls readable once it has.) */
static bool pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

int peer_privileged(int fd, bool have_group, gid_t group)
{
	char status[STATUS_MAX];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int pidfd = -1, r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid == 0)
		return 1;
	if (cred.pid <= 0)
		return 0;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (errno == ESRCH)
			return -ESRCH;	/* it exited: its pid may be another process's */
		pidfd = -1;		/* ENOPROTOOPT: before Linux 6.5 */
	}

	r = read_status(cred.pid, status, sizeof(status));
	if (r == 0)
		r = uids_are(status, cred.uid);
	if (r > 0) {
		/* The capability first, without the group: it also needs the namespace check. */
		r = has_checkpoint_restore(status);
		if (r > 0)
			r = in_our_user_ns(cred.pid);
		if (r == 0 && have_group)
			r = in_group(status, cred.gid, group);
	}
	/* Read after the status: a pid reused before the read shows here. */
	if (r > 0 && pidfd >= 0 && pidfd_exited(pidfd))
		r = -ESRCH;
	if (pidfd >= 0)
		close(pidfd);
	return r;
}
