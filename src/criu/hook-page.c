/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page of a daemon that was checkpointed with the container it serves. At post-restore
 * that daemon is stopped like every restored task and cannot answer, yet nothing in the tree
 * may run before the page changes. So the hook does the one thing the daemon's next control raise
 * would do to the page: generation + 1 and the epoch SNAPSAFE_EPOCH_MAKE(control, counter + 1)
 * in one 64-bit store, as snapsafed publishes them (page.h). No one else writes meanwhile:
 * the only writer is stopped. At post-resume the hook asks that daemon for TRIGGER <that
 * generation>, which publishes the same values and tells its watchers.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "page.h"

/*
 * The page that @page_fd (O_PATH, from hook_open_in()) holds, mapped. It is opened for I/O
 * through /proc/self/fd: the same file, not a second lookup of its path; for writing only
 * when a raise is to be written (the host's page may be bind-mounted read-only).
 */
static struct snapsafe_page *page_map(int page_fd, bool writable)
{
	char path[64];
	struct stat st;
	void *p;
	int fd;

	if (fstat(page_fd, &st) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size < SNAPSAFE_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	hook_fd_path(page_fd, path, sizeof(path));
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
		 fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (((struct snapsafe_page *)p)->magic != SNAPSAFE_PAGE_MAGIC ||
	    ((struct snapsafe_page *)p)->version != SNAPSAFE_PAGE_VERSION) {
		munmap(p, SNAPSAFE_PAGE_SIZE);
		errno = EPROTO;
		return NULL;
	}
	return p;
}

int64_t hook_page_generation(int page_fd)
{
	struct snapsafe_page *pg = page_map(page_fd, false);
	uint32_t gen;

	if (!pg)
		return -errno;
	gen = (uint32_t)snapsafe_page_gen_epoch(pg);
	munmap(pg, SNAPSAFE_PAGE_SIZE);
	return gen;
}

int64_t hook_page_raise(int page_fd)
{
	struct snapsafe_page *pg = page_map(page_fd, true);
	struct timespec ts;
	uint64_t ge, ns;
	uint32_t gen, epoch;

	if (!pg)
		return -errno;
	ge = snapsafe_page_gen_epoch(pg);
	gen = (uint32_t)ge;
	epoch = (uint32_t)(ge >> 32);
	if (gen == UINT32_MAX) {
		munmap(pg, SNAPSAFE_PAGE_SIZE);
		return -EOVERFLOW;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	__atomic_store_n(&pg->last_raise_ns, ns, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->last_epoch_ns, ns, __ATOMIC_RELAXED);
	ge = snapsafe_gen_epoch_pack(gen + 1, SNAPSAFE_EPOCH_MAKE(SNAPSAFE_NOTIFIER_CONTROL,
				     SNAPSAFE_EPOCH_COUNTER(epoch) + 1));
	__atomic_store_n((uint64_t *)(void *)pg, ge, __ATOMIC_RELEASE);
	munmap(pg, SNAPSAFE_PAGE_SIZE);
	return (int64_t)gen + 1;
}
