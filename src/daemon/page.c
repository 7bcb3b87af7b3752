/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generation page file (docs/page.md). Created once with mode 0644 and sized to
 * one page only when new; after that it is never truncated, renamed or recreated,
 * because every client keeps its MAP_SHARED mapping across daemon restarts and must
 * keep seeing the values this daemon writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

int page_map_file(int fd, const char *path, void **ret)
{
	struct stat st;
	void *p;
	int r;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return log_error_errno(EINVAL, "%s is not a regular file", path);
	/* The umask must not make the file unreadable for clients. */
	if ((st.st_mode & 07777) != 0644 && fchmod(fd, 0644) < 0)
		log_warning_errno(errno, "Cannot chmod %s", path);
	/* Grow a new (or short) file; never shrink: a shrink would SIGBUS the readers. */
	if (st.st_size < SNAPSAFE_PAGE_SIZE && ftruncate(fd, SNAPSAFE_PAGE_SIZE) < 0) {
		r = -errno;
		return log_error_errno(r, "Cannot size %s", path);
	}
	p = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		return log_error_errno(r, "Cannot map %s", path);
	}
	*ret = p;
	return 0;
}

int page_open(const char *path, int *ret_fd, struct snapsafe_page **ret_page)
{
	void *p;
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0)
		return log_error_errno(errno, "Cannot open page file %s", path);
	/* One daemon per runtime directory: a second one would fight over the page. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return log_error_errno(r, "Another snapsafed owns %s", path);
	}
	r = page_map_file(fd, path, &p);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_page = p;
	return 0;
}

/*
 * Readers load gen+epoch with one acquire load and then the other fields; so the other
 * fields are written first and gen+epoch last with one release store: a reader that
 * sees the new gen/epoch also sees the flags and live bits that go with it.
 */
void page_write(struct snapsafe_page *p, uint32_t gen, uint32_t epoch, uint32_t flags, pid_t pid,
		uint64_t live, uint64_t last_raise_ns, uint64_t last_epoch_ns)
{
	__atomic_store_n(&p->magic, (uint32_t)SNAPSAFE_PAGE_MAGIC, __ATOMIC_RELAXED);
	__atomic_store_n(&p->version, (uint16_t)SNAPSAFE_PAGE_VERSION, __ATOMIC_RELAXED);
	__atomic_store_n(&p->header_size, (uint16_t)sizeof(struct snapsafe_page), __ATOMIC_RELAXED);
	__atomic_store_n(&p->flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&p->daemon_pid, (uint32_t)pid, __ATOMIC_RELAXED);
	__atomic_store_n(&p->live_notifiers, live, __ATOMIC_RELAXED);
	__atomic_store_n(&p->last_raise_ns, last_raise_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&p->last_epoch_ns, last_epoch_ns, __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)p, snapsafe_gen_epoch_pack(gen, epoch),
			 __ATOMIC_RELEASE);
	/* Shared (not private) futex: the waiters map the same file, not our memory. */
	syscall(SYS_futex, &p->generation, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void page_close(int fd, struct snapsafe_page *p)
{
	if (p)
		munmap(p, SNAPSAFE_PAGE_SIZE);
	if (fd >= 0)
		close(fd);
}
