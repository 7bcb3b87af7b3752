/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * May the peer of a control connection trigger, quiesce and resume? The rights are those
 * of the process that connected, as the kernel reports them: SO_PEERCRED (its uid, gid
 * and pid at connect time) and, for CAP_CHECKPOINT_RESTORE and the supplementary groups,
 * /proc/<pid>/status (privilege_check_peer() in src/shared). Nothing the client sends
 * counts. Three things that /proc read alone cannot tell are checked around it:
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
 *   effective, saved, file system) must still be the SO_PEERCRED uid, read after the
 *   capability check: an exec before that check shows here.
 * Root at connect time (SO_PEERCRED uid 0) is privileged for the life of the connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "privilege.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77		/* Linux 6.5 */
#endif

/* Return: 1 when all four uids of @pid are @uid, 0 when one differs, <0 on error. */
static int uids_are(pid_t pid, uid_t uid)
{
	char path[64], line[256];
	unsigned long u[4];
	int r = -EPROTO;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uid:", 4) != 0)
			continue;
		if (sscanf(line + 4, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) == 4)
			r = u[0] == uid && u[1] == uid && u[2] == uid && u[3] == uid;
		break;
	}
	fclose(f);
	return r;
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
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int pidfd = -1, r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid == 0)
		return 1;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (errno == ESRCH)
			return -ESRCH;	/* it exited: its pid may be another process's */
		pidfd = -1;		/* ENOPROTOOPT: before Linux 6.5 */
	}

	/* The capability first, without the group: it also needs the namespace check. */
	r = privilege_check_peer(fd, false, 0);
	if (r > 0)
		r = in_our_user_ns(cred.pid);
	if (r == 0 && have_group)
		r = privilege_in_group(cred.pid, cred.gid, group);
	if (r > 0)
		r = uids_are(cred.pid, cred.uid);
	if (r > 0 && pidfd >= 0 && pidfd_exited(pidfd))
		r = -ESRCH;
	if (pidfd >= 0)
		close(pidfd);
	return r;
}
