/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The generation page file (see page-file.h). */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "page-file.h"

struct page_file {
	int fd;
	struct snapsafe_page *page;
	bool was_new;
};

/* For page_file_abandon(): a signal handler has no other way to reach the mapping. */
static struct snapsafe_page *volatile abandon_page;

int page_file_open(const char *path, struct page_file **ret)
{
	static const char zero[SNAPSAFE_PAGE_SIZE];
	struct page_file *p;
	void *map;
	int fd;

	/* One daemon per runtime directory: a second one would fight over the page. */
	fd = file_map_page(path, zero, "page file", "owns", &map);
	if (fd < 0)
		return fd;
	p = calloc(1, sizeof(*p));
	if (!p) {
		munmap(map, SNAPSAFE_PAGE_SIZE);
		close(fd);
		return log_error_errno(ENOMEM, "Out of memory");
	}
	p->fd = fd;
	p->page = map;
	p->was_new = __atomic_load_n(&p->page->magic, __ATOMIC_RELAXED) != SNAPSAFE_PAGE_MAGIC;
	abandon_page = p->page;
	*ret = p;
	return 0;
}

struct page_file *page_file_close(struct page_file *p)
{
	if (!p)
		return NULL;
	abandon_page = NULL;
	munmap(p->page, SNAPSAFE_PAGE_SIZE);
	close(p->fd);
	free(p);
	return NULL;
}

void page_file_restore(const struct page_file *p, struct core *c)
{
	const struct snapsafe_page *pg = p->page;
	uint64_t ge;

	if (p->was_new)
		return;
	ge = snapsafe_page_gen_epoch(pg);
	core_floor(c, (uint32_t)ge, SNAPSAFE_EPOCH_COUNTER((uint32_t)(ge >> 32)),
		   __atomic_load_n(&pg->flags, __ATOMIC_RELAXED) & SNAPSAFE_PAGE_QUIESCED,
		   __atomic_load_n(&pg->last_raise_ns, __ATOMIC_RELAXED));
}

/* Shared (not private) futex: the waiters map the same file, not our memory. */
static void wake_waiters(struct snapsafe_page *pg)
{
	syscall(SYS_futex, &pg->generation, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Readers load gen+epoch with one acquire load and then the other fields, and check
 * gen+epoch again after they have served: a reader may see new fields with the old
 * gen/epoch, but never the other way round. So a change goes out in two steps around the
 * one release store of gen/epoch. First the stricter of the old and the new fields (set
 * QUIESCED, cleared RUNNING, live bits gone, the settled marker unchanged): whatever
 * forbids serving is visible before the new gen/epoch. Then, after it, what permits
 * serving: a reader that sees a cleared QUIESCED (a resume) or a new settled marker
 * already finds the new gen/epoch on its check after serving, and takes it from there.
 * One step would let a reader serve from the engine after a resume with the generation
 * it had before.
 */
static int page_file_publish(void *ctx, const struct core_values *v, unsigned changes)
{
	struct page_file *p = ctx;
	struct snapsafe_page *pg = p->page;
	uint32_t flags = (v->running ? SNAPSAFE_PAGE_RUNNING : 0) |
			 (v->quiesced ? SNAPSAFE_PAGE_QUIESCED : 0);
	uint64_t live = v->running ? v->live : 0;
	uint32_t old_flags = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED);
	uint64_t old_live = __atomic_load_n(&pg->live_notifiers, __ATOMIC_RELAXED);
	uint32_t strict_flags = ((old_flags | flags) & SNAPSAFE_PAGE_QUIESCED) |
				(old_flags & flags & SNAPSAFE_PAGE_RUNNING);

	if (!(changes & ~CORE_CHANGE_POSITIONS))
		return 0;
	__atomic_store_n(&pg->magic, (uint32_t)SNAPSAFE_PAGE_MAGIC, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->version, (uint16_t)SNAPSAFE_PAGE_VERSION, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->header_size, (uint16_t)sizeof(*pg), __ATOMIC_RELAXED);
	__atomic_store_n(&pg->flags, strict_flags, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->daemon_pid, v->running ? (uint32_t)getpid() : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->live_notifiers, old_live & live, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->last_raise_ns, v->last_raise_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->last_epoch_ns, v->last_epoch_ns, __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)pg,
			 snapsafe_gen_epoch_pack(v->generation, core_epoch_word(v)), __ATOMIC_RELEASE);
	/* Release: none of these may become visible before the gen/epoch store above. */
	__atomic_store_n(&pg->vmclock_settled, v->vmclock_settled, __ATOMIC_RELEASE);
	__atomic_store_n(&pg->live_notifiers, live, __ATOMIC_RELEASE);
	__atomic_store_n(&pg->flags, flags, __ATOMIC_RELEASE);
	wake_waiters(pg);
	return 0;
}

void page_file_abandon(void)
{
	struct snapsafe_page *pg = abandon_page;
	uint64_t ge;
	uint32_t epoch;

	if (!pg)
		return;
	__atomic_store_n(&pg->flags, __atomic_load_n(&pg->flags, __ATOMIC_RELAXED) &
			 ~(uint32_t)SNAPSAFE_PAGE_RUNNING, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->daemon_pid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->live_notifiers, 0, __ATOMIC_RELAXED);
	/* A new epoch (same id space, counter + 1) makes every seeded library look again. */
	ge = snapsafe_page_gen_epoch(pg);
	epoch = (uint32_t)(ge >> 32);
	epoch = SNAPSAFE_EPOCH_MAKE(SNAPSAFE_NOTIFIER_NONE, SNAPSAFE_EPOCH_COUNTER(epoch) + 1);
	__atomic_store_n((uint64_t *)(void *)pg, snapsafe_gen_epoch_pack((uint32_t)ge, epoch),
			 __ATOMIC_RELEASE);
	wake_waiters(pg);
}

const struct sink_ops page_file_sink = {
	.name = "page",
	.publish = page_file_publish,
};
