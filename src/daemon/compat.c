/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --sysgenid-compat PATH: the generation as a /dev/sysgenid look-alike for clients
 * that map 4 bytes at offset 0 of that path (AWS-LC). The file is created once
 * (0644, one page) and then only ever updated in place with one aligned 4-byte
 * atomic store: such clients keep their mapping for the life of the process and
 * abort if the value changes during a call, so it must change exactly once per
 * raise and never be recreated. A character device at PATH is a real kernel
 * /dev/sysgenid: it is left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

struct compat {
	int fd;
	uint32_t *word;
};

int compat_open(const char *path, struct compat **ret)
{
	struct compat *c;
	struct stat st;
	void *p;
	int fd, r;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISCHR(st.st_mode)) {
			log_notice("%s is a character device (a kernel sysgenid): not publishing "
				   "the compat file there", path);
			return 0;
		}
		return log_error_errno(EEXIST, "%s exists and is not a regular file", path);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return log_error_errno(errno, "Cannot open compat file %s", path);
	/* 0644, a page, never shrunk (a client's mapping would SIGBUS), as the page file. */
	r = page_map_file(fd, path, &p);
	if (r < 0) {
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		munmap(p, SNAPSAFE_PAGE_SIZE);
		close(fd);
		return log_error_errno(ENOMEM, "Out of memory");
	}
	c->fd = fd;
	c->word = p;
	*ret = c;
	return 1;
}

void compat_store(struct compat *c, uint32_t gen)
{
	if (!c)
		return;
	/* Unchanged values are not rewritten: a client compares, so no store, no change. */
	if (__atomic_load_n(c->word, __ATOMIC_RELAXED) != gen)
		__atomic_store_n(c->word, gen, __ATOMIC_RELEASE);
}

struct compat *compat_close(struct compat *c)
{
	if (c) {
		munmap(c->word, SNAPSAFE_PAGE_SIZE);
		close(c->fd);
		free(c);
	}
	return NULL;
}
