/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who publishes a page: snapsafed holds an exclusive flock on it for as long as it runs (a
 * restored one too: CRIU restores file locks), and /proc/locks names the holder's pid in our
 * pid namespace. Whether that process belongs to the restored tree decides how the hook
 * raises: a daemon outside it (the host's, through a bind mount) answers on its socket; one
 * inside it is stopped with everything else until the tree resumes. The page is the file the
 * hook holds open, not a path: what the hook writes or checks is the file whose owner it found.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "hook.h"

int hook_owner(int page_fd, pid_t *ret_pid)
{
	struct stat st;
	char line[512];
	FILE *f;
	int r = -ESRCH;

	if (fstat(page_fd, &st) < 0)
		return -errno;
	f = fopen("/proc/locks", "re");
	if (!f)
		return -errno;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF"; "->" lines are waiters. */
	while (fgets(line, sizeof(line), f)) {
		char kind[16], mode[16], access[16];
		unsigned int maj, min;
		unsigned long long ino;
		int pid;

		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%llu", kind, mode, access, &pid,
			   &maj, &min, &ino) != 7)
			continue;
		if (strcmp(kind, "FLOCK") != 0 || strcmp(access, "WRITE") != 0 || pid <= 0)
			continue;
		if (makedev(maj, min) == st.st_dev && ino == (unsigned long long)st.st_ino) {
			*ret_pid = pid;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return ppid;
}

bool hook_in_tree(pid_t pid, pid_t root)
{
	/* A bounded walk: pid 1 and 0 end it, and so does a loop through a reused pid. */
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		if (pid == root)
			return true;
		pid = parent_of(pid);
	}
	return pid == root;
}
