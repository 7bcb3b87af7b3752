/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening and creating the files the daemon trusts (see files.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "page.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

enum { OPEN_FLAGS = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY };

/* A refusal says why in words; the errno behind it would only repeat that. */
#define refuse(error, ...) (log_error(__VA_ARGS__), -(error))

/* Leftovers of a write that a signal cut short: "<name>.tmp-<pid>-<n>" beside the file. */
static const char temp_marker[] = ".tmp-";

/* Is @st what we would have made: ours, not group/other-writable? */
static int check_owner_mode(const struct stat *st, const char *path, const char *what)
{
	if (st->st_uid != geteuid())
		return refuse(EPERM, "Refusing %s %s: owned by uid %u, not by the daemon's "
				       "uid %u", what, path, (unsigned)st->st_uid,
				       (unsigned)geteuid());
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return refuse(EPERM, "Refusing %s %s: writable by group or others (mode "
				       "%04o)", what, path, (unsigned)(st->st_mode & 07777));
	return 0;
}

/*
 * The directory that holds @dir: one that others may write to, without the sticky bit,
 * would let them swap @dir for something else between our checks and our opens.
 */
static int check_parent(const char *dir)
{
	char parent[PATH_MAX];
	struct stat st;
	char *slash;

	if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
		return refuse(ENAMETOOLONG, "Runtime directory path too long: %s", dir);
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) < 0)
		return log_error_errno(errno, "Cannot stat %s", parent);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return refuse(EPERM, "Refusing runtime directory %s: its parent %s is writable by "
			      "group or others without the sticky bit (mode %04o)", dir, parent,
			      (unsigned)(st.st_mode & 07777));
	return 0;
}

void runtime_dir_remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_type == DT_REG && strstr(de->d_name, temp_marker))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int runtime_dir_prepare(const char *dir)
{
	struct stat st;
	int r;

	r = check_parent(dir);
	if (r < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create the runtime directory %s", dir);
	if (lstat(dir, &st) < 0)
		return log_error_errno(errno, "Cannot stat the runtime directory %s", dir);
	if (S_ISLNK(st.st_mode))
		return refuse(ELOOP, "Refusing runtime directory %s: it is a symlink", dir);
	if (!S_ISDIR(st.st_mode))
		return refuse(ENOTDIR, "Refusing runtime directory %s: not a directory", dir);
	if (!(st.st_mode & S_IXOTH))
		log_warning("The runtime directory %s is mode %04o: other users' processes cannot "
			    "reach the page or the socket", dir, (unsigned)(st.st_mode & 07777));
	return check_owner_mode(&st, dir, "runtime directory");
}

static int check_fd(int fd, const char *path, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return log_error_errno(errno, "Cannot stat %s %s", what, path);
	if (!S_ISREG(st.st_mode))
		return refuse(EINVAL, "Refusing %s %s: not a regular file", what, path);
	if (st.st_nlink != 1)
		return refuse(EMLINK, "Refusing %s %s: it has %lu links", what, path,
				       (unsigned long)st.st_nlink);
	return check_owner_mode(&st, path, what);
}

int file_open_trusted(const char *path, int flags, const char *what)
{
	int fd, r;

	fd = open(path, flags | OPEN_FLAGS);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		if (errno == ELOOP)
			return refuse(ELOOP, "Refusing %s %s: it is a symlink", what, path);
		return log_error_errno(errno, "Cannot open %s %s", what, path);
	}
	r = check_fd(fd, path, what);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* A temporary name beside @path: "<path>.tmp-<pid>-<n>". */
static int temp_name(char *buf, size_t size, const char *path)
{
	static unsigned n;
	int len = snprintf(buf, size, "%s%s%d-%u", path, temp_marker, (int)getpid(), n++);

	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const void *buf, size_t size)
{
	const char *p = buf;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Create @tmp exclusively (never through a link someone planted) and fill it. */
static int write_temp(const char *tmp, const void *content, size_t size, mode_t mode)
{
	int fd, r;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | OPEN_FLAGS, mode);
	if (fd < 0)
		return -errno;
	/* The umask must not make the file unreadable for clients. */
	r = fchmod(fd, mode) < 0 ? -errno : write_all(fd, content, size);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int file_create_complete(const char *path, const void *content, size_t size, const char *what)
{
	char tmp[PATH_MAX];
	int r;

	r = temp_name(tmp, sizeof(tmp), path);
	if (r < 0)
		return log_error_errno(r, "Cannot create %s %s", what, path);
	r = write_temp(tmp, content, size, 0644);
	if (r < 0)
		return log_error_errno(r, "Cannot create %s %s", what, path);
	/* Never over an existing file: a client may have it mapped. */
	r = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 ? -errno : 0;
	if (r == -EINVAL || r == -ENOSYS) {
		/* A file system without RENAME_NOREPLACE: link() refuses an existing target too. */
		r = link(tmp, path) < 0 ? -errno : 0;
		unlink(tmp);
	} else if (r < 0) {
		unlink(tmp);
	}
	if (r < 0 && r != -EEXIST)
		return log_error_errno(r, "Cannot create %s %s", what, path);
	return r;
}

int file_open_or_create(const char *path, int flags, const void *content, size_t size,
			const char *what)
{
	for (int tries = 0; tries < 3; tries++) {
		int fd = file_open_trusted(path, flags, what), r;

		if (fd != -ENOENT)
			return fd;
		r = file_create_complete(path, content, size, what);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return log_error_errno(EAGAIN, "Cannot create %s %s: it keeps disappearing", what, path);
}

ssize_t read_all(int fd, void *buf, size_t size)
{
	size_t off = 0;

	while (off < size) {
		ssize_t n = read(fd, (char *)buf + off, size - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

ssize_t file_read_small(const char *path, char *buf, size_t size, const char *what)
{
	ssize_t n;
	int fd;

	fd = file_open_trusted(path, O_RDONLY, what);
	if (fd < 0)
		return fd;
	/* One byte more than fits tells "too large" from "exactly full". */
	n = read_all(fd, buf, size);
	close(fd);
	if (n < 0)
		return log_error_errno((int)n, "Cannot read %s %s", what, path);
	if ((size_t)n == size)
		return refuse(EFBIG, "Refusing %s %s: larger than %zu bytes", what, path,
				       size - 1);
	buf[n] = '\0';
	return n;
}

/*
 * The exclusive lock that makes one daemon per file. snapsafectl status takes a shared
 * lock for a few loads to tell a live daemon from a killed one: such a lock goes away at
 * once, another daemon's does not. So a busy lock is tried again for LOCK_WAIT_MS.
 */
static int lock_exclusive(int fd)
{
	enum { LOCK_WAIT_MS = 1000, LOCK_STEP_MS = 10 };

	for (int waited = 0;; waited += LOCK_STEP_MS) {
		struct timespec step = { .tv_nsec = LOCK_STEP_MS * 1000000L };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		if (waited >= LOCK_WAIT_MS)
			return -EBUSY;
		nanosleep(&step, NULL);
	}
}

int file_map_page(const char *path, const void *content, const char *what, const char *owner,
		  void **ret_map)
{
	struct stat st;
	void *map;
	int fd, r;

	fd = file_open_or_create(path, O_RDWR, content, SNAPSAFE_PAGE_SIZE, what);
	if (fd < 0)
		return fd;
	r = lock_exclusive(fd);
	if (r < 0) {
		close(fd);
		if (r == -EBUSY)
			return refuse(EBUSY, "Another snapsafed %s %s", owner, path);
		return log_error_errno(r, "Cannot lock %s %s", what, path);
	}
	if (fstat(fd, &st) < 0) {
		r = log_error_errno(errno, "Cannot stat %s %s", what, path);
		goto fail;
	}
	/*
	 * A file that existed before us (made by an operator or an older version): readable by
	 * everyone, and grown to a page. Never shrunk: a client's mapping would SIGBUS.
	 */
	if ((st.st_mode & 07777) != 0644 && fchmod(fd, 0644) < 0)
		log_warning_errno(errno, "Cannot chmod %s %s to 0644", what, path);
	if (st.st_size < SNAPSAFE_PAGE_SIZE && ftruncate(fd, SNAPSAFE_PAGE_SIZE) < 0) {
		r = log_error_errno(errno, "Cannot size %s %s", what, path);
		goto fail;
	}
	map = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		r = log_error_errno(errno, "Cannot map %s %s", what, path);
		goto fail;
	}
	*ret_map = map;
	return fd;
fail:
	close(fd);
	return r;
}

int file_replace(const char *path, const void *content, size_t size)
{
	char tmp[PATH_MAX];
	int r;

	r = temp_name(tmp, sizeof(tmp), path);
	if (r < 0)
		return r;
	r = write_temp(tmp, content, size, 0600);
	if (r < 0)
		return r;
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
	}
	return r;
}
