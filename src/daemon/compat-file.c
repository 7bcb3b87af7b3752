/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The /dev/sysgenid-compatible file (see compat-file.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat-file.h"
#include "files.h"
#include "log.h"

struct compat_file {
	int fd;
	uint32_t *word;
};

int compat_file_open(const char *path, uint32_t generation, struct compat_file **ret)
{
	uint32_t content[SNAPSAFE_PAGE_SIZE / sizeof(uint32_t)] = { generation };
	struct compat_file *c;
	struct stat st;
	void *p;
	int fd;

	if (lstat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		log_notice("%s is a character device (a kernel sysgenid): not publishing the "
			   "compat file there", path);
		return 0;
	}
	/* Two daemons (on two runtime directories) must not both write one compat file. */
	fd = file_map_page(path, content, "compat file", "publishes", &p);
	if (fd < 0)
		return fd;
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

struct compat_file *compat_file_close(struct compat_file *c)
{
	if (c) {
		munmap(c->word, SNAPSAFE_PAGE_SIZE);
		close(c->fd);
		free(c);
	}
	return NULL;
}

void compat_file_restore(const struct compat_file *c, struct core *core)
{
	/* Its clients saw this value: a fresh runtime directory must not go below it. */
	core_floor(core, __atomic_load_n(c->word, __ATOMIC_RELAXED), 0, false, 0);
}

static int compat_file_publish(void *ctx, const struct core_values *v, unsigned changes)
{
	struct compat_file *c = ctx;

	/* Unchanged values are not rewritten: a client compares, so no store, no change. */
	if (__atomic_load_n(c->word, __ATOMIC_RELAXED) != v->generation)
		__atomic_store_n(c->word, v->generation, __ATOMIC_RELEASE);
	return 0;
}

const struct sink_ops compat_file_sink = {
	.name = "compat file",
	.publish = compat_file_publish,
};
