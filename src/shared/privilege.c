/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The privilege check for control requests. The uid, gid and pid come from
 * SO_PEERCRED (recorded by the kernel at connect time); the capability set and
 * the supplementary groups come from /proc/<pid>/status at request time. A peer that
 * exited and whose pid was reused could in theory lend another process's rights, so
 * the uid of the process found there must match the SO_PEERCRED uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "missing.h"
#include "privilege.h"

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

/* The value after "\n<key>:\t" (or at the start), or NULL. */
static const char *status_field(const char *buf, const char *key)
{
	size_t klen = strlen(key);
	const char *p = buf;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return p + klen + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int privilege_cap_eff(pid_t pid, uint64_t *ret_caps)
{
	char buf[8192];
	const char *v;
	char *end;
	uint64_t caps;
	int r;

	r = read_status(pid, buf, sizeof(buf));
	if (r < 0)
		return r;
	v = status_field(buf, "CapEff");
	if (!v)
		return -EPROTO;
	errno = 0;
	caps = strtoull(v, &end, 16);
	if (errno || end == v)
		return -EPROTO;
	*ret_caps = caps;
	return 0;
}

static int status_uid_matches(const char *buf, uid_t uid)
{
	const char *v = status_field(buf, "Uid");
	unsigned long real, eff;

	if (!v || sscanf(v, "%lu %lu", &real, &eff) != 2)
		return -EPROTO;
	return eff == (unsigned long)uid || real == (unsigned long)uid;
}

int privilege_in_group(pid_t pid, gid_t peer_gid, gid_t gid)
{
	char buf[8192];
	const char *v;
	int r;

	if (peer_gid == gid)
		return 1;
	r = read_status(pid, buf, sizeof(buf));
	if (r < 0)
		return r;
	v = status_field(buf, "Groups");
	if (!v)
		return 0;
	while (*v && *v != '\n') {
		char *end;
		unsigned long g;

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

int privilege_check_peer(int fd, bool have_group, gid_t group)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char buf[8192];
	const char *v;
	uint64_t caps;
	char *end;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid == 0)
		return 1;
	if (cred.pid <= 0)
		return 0;

	r = read_status(cred.pid, buf, sizeof(buf));
	if (r < 0)
		return r;
	/* The pid must still be the peer (or a process of the same user). */
	r = status_uid_matches(buf, cred.uid);
	if (r <= 0)
		return r;

	v = status_field(buf, "CapEff");
	if (v) {
		errno = 0;
		caps = strtoull(v, &end, 16);
		if (!errno && end != v && (caps >> CAP_CHECKPOINT_RESTORE) & 1)
			return 1;
	}
	if (have_group)
		return privilege_in_group(cred.pid, cred.gid, group);
	return 0;
}
