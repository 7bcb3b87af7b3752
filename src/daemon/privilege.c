/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * May the peer of a control connection trigger, quiesce and resume? The rights are those
 * of the process that connected, as the kernel reports them: SO_PEERCRED (its uid, gid
 * and pid at connect time) and /proc/<pid>/status at request time. Nothing the client
 * sends counts. (server.c adds one rule first: the request line must have been written
 * by that process itself, which SCM_CREDENTIALS tells, not by a child or another
 * process it shares the socket with.) What the /proc read alone cannot tell is checked
 * around it:
 *
 * - The capability is held in the daemon's user namespace. Any user can be root with
 *   every capability in a user namespace of its own (unshare -r), and /proc shows those;
 *   they count only there. The namespaces are compared through their uid and gid maps,
 *   which anyone may read, because /proc/<pid>/ns/user needs ptrace rights that the
 *   shipped unit does not grant. Two different namespaces with the same maps as ours can
 *   only be made by a process privileged in ours; they are taken as ours.
 * - The capability was not lent by an exec. A process without it can connect, queue a
 *   request and then exec a program that carries cap_checkpoint_restore as a file
 *   capability; /proc then shows the capability, but the request was not written by a
 *   process that had it. An exec grants a capability only through the file, and a file
 *   capability is never ambient (exec clears the ambient set for such a program), while
 *   an ambient capability was given to the process before its current program started.
 *   So CAP_CHECKPOINT_RESTORE counts only when it is ambient as well as effective (how a
 *   service manager grants it: systemd's AmbientCapabilities=, setpriv --ambient-caps).
 * - The process is still the one that connected. Its pidfd (SO_PEERPIDFD, Linux 6.5)
 *   reports whether it exited; if it did, the pid may belong to another process by now.
 *   Older kernels have no pidfd for the peer: the pid is trusted as before.
 * - It is still the same identity. An unprivileged process can queue a request, then
 *   exec a setuid-root program that keeps the socket: /proc then shows euid 0 and every
 *   capability. So every uid in /proc (real, effective, saved, file system) must still be
 *   the SO_PEERCRED uid, read in the same read of the status file as the capabilities
 *   and groups.
 * Root at connect time (SO_PEERCRED uid 0) is privileged for the life of the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "files.h"
#include "missing.h"
#include "parse-number.h"
#include "privilege.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77		/* Linux 6.5 */
#endif

enum { STATUS_MAX = 8192, MAP_MAX = 4096 };

/* Read a /proc file into @buf (NUL-terminated). Return: its length or a negative errno. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read_all(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static ssize_t read_pid_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	return read_proc(path, buf, size);
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

/*
 * The numbers of a status field, separated by blanks, up to the end of its line.
 * Return: how many (at most @max), or -EPROTO for anything else on the line.
 */
static int field_numbers(const char *v, unsigned base, uint64_t *ret, int max)
{
	int n = 0;

	for (;;) {
		const char *end;

		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\n' || *v == '\0')
			return n;
		if (n == max || parse_uint_prefix(v, strcspn(v, " \t\n"), base, UINT64_MAX,
						  &ret[n], &end) < 0)
			return -EPROTO;
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\0')
			return -EPROTO;
		n++;
		v = end;
	}
}

/* Return: 1 when all four uids (real, effective, saved, fs) are @uid, 0 when not. */
static int uids_are(const char *status, uid_t uid)
{
	const char *v = status_field(status, "Uid");
	uint64_t u[4];

	if (!v || field_numbers(v, 10, u, 4) != 4)
		return -EPROTO;
	return u[0] == uid && u[1] == uid && u[2] == uid && u[3] == uid;
}

static int cap_set_has(const char *status, const char *field, unsigned cap)
{
	const char *v = status_field(status, field);
	uint64_t caps;

	if (!v || field_numbers(v, 16, &caps, 1) != 1)
		return -EPROTO;
	return (caps >> cap) & 1;
}

/* CAP_CHECKPOINT_RESTORE, effective and ambient (see the top of this file). */
static int has_unlent_checkpoint_restore(const char *status)
{
	int r = cap_set_has(status, "CapEff", CAP_CHECKPOINT_RESTORE);

	if (r <= 0)
		return r;
	return cap_set_has(status, "CapAmb", CAP_CHECKPOINT_RESTORE);
}

/* Is @gid the primary group @peer_gid or one of the supplementary groups in @status? */
static int in_group(const char *status, gid_t peer_gid, gid_t gid)
{
	uint64_t groups[256];
	const char *v;
	int n;

	if (peer_gid == gid)
		return 1;
	v = status_field(status, "Groups");
	if (!v)
		return 0;
	n = field_numbers(v, 10, groups, (int)(sizeof(groups) / sizeof(groups[0])));
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* Do @pid's and our @name ("uid_map", "gid_map") read the same? */
static int same_map(pid_t pid, const char *name)
{
	char ours[MAP_MAX], theirs[MAP_MAX], path[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	a = read_proc(path, ours, sizeof(ours));
	if (a == -ESRCH)
		return 1;	/* no user namespaces at all */
	if (a < 0)
		return (int)a;
	b = read_pid_file(pid, name, theirs, sizeof(theirs));
	if (b < 0)
		return (int)b;
	return a == b && memcmp(ours, theirs, (size_t)a) == 0;
}

/* Return: 1 when @pid is in our user namespace, 0 when not, <0 when it cannot tell. */
static int in_our_user_ns(pid_t pid)
{
	int r = same_map(pid, "uid_map");

	return r <= 0 ? r : same_map(pid, "gid_map");
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
	ssize_t n;

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

	n = read_pid_file(cred.pid, "status", status, sizeof(status));
	r = n < 0 ? (int)n : uids_are(status, cred.uid);
	if (r > 0) {
		/* The capability first, without the group: it also needs the namespace check. */
		r = has_unlent_checkpoint_restore(status);
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

void peer_comm(pid_t pid, char comm[16])
{
	ssize_t n = pid > 0 ? read_pid_file(pid, "comm", comm, 16) : -ESRCH;

	if (n <= 0) {
		strcpy(comm, "?");
		return;
	}
	comm[strcspn(comm, "\n")] = '\0';
}
