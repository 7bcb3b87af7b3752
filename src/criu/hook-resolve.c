/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restored tree's files, looked up as the tree itself would. The hook runs as root on the
 * host, and a path walked through /proc/PID/root follows a container's absolute symbolic
 * link, or a ".." above its root, to the host's file of that name: the container would choose
 * which page the hook writes and which socket it talks to. So every lookup starts at a
 * descriptor of that root and goes through openat2() with RESOLVE_IN_ROOT, which keeps "/"
 * and ".." (in links too) at the container's root, and RESOLVE_NO_MAGICLINKS, which refuses
 * /proc/N/fd/... links to files of other processes. Mount points are crossed (no
 * RESOLVE_NO_XDEV): the host's runtime directory is a bind mount in the containers it serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "missing.h"

int hook_root_open(pid_t init)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)init);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * O_PATH: nothing of the tree's is opened for I/O before its type is known (the tree's FIFO
 * would block the hook; a device could act on being opened).
 */
int hook_open_in(int root, const char *path, mode_t type)
{
	struct snapsafe_open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	long fd;
	int r;

	/* EAGAIN: a rename or mount somewhere during the walk; the kernel asks for a retry. */
	for (int tries = 0; tries < 16; tries++) {
		fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0)
		return -errno;
	if (fstat((int)fd, &st) < 0)
		r = -errno;
	else if ((st.st_mode & S_IFMT) == type)
		return (int)fd;
	else if (S_ISLNK(st.st_mode))
		r = -ELOOP;	/* what O_NOFOLLOW says when it opens for I/O */
	else
		r = type == S_IFSOCK ? -ENOTSOCK : -EINVAL;
	close((int)fd);
	return r;
}

void hook_fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}
