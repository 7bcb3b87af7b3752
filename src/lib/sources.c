/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Maps the generation sources read-only and publishes them in gen_sources.
 * Sources are only ever added, never removed: a mapping stays valid for the life
 * of the process (the daemon updates its page in place and never recreates it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime-dir.h"
#include "sources.h"
#include "vmclock.h"
#include "../../kmod/include/uapi/linux/sysgenid.h"

struct gen_sources gen_sources;

static pthread_mutex_t sources_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t sources_once = PTHREAD_ONCE_INIT;
static uint64_t last_probe_ns;

static const void *map_readonly(const char *path, size_t size, bool want_chardev)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (want_chardev ? !S_ISCHR(st.st_mode) :
				   !S_ISREG(st.st_mode) || st.st_size < (off_t)size)) {
		close(fd);
		return NULL;
	}
	/*
	 * Every open /dev/sysgenid file counts as a watcher (the v4 ABI), and our mapping keeps
	 * the file open for the life of the process although we never acknowledge: after the
	 * first raise each process would stay an outdated watcher, and WAIT_WATCHERS would wait
	 * for it until its timeout. Opt out; kernels without the ioctl (ENOTTY) never tracked.
	 */
	if (want_chardev)
		(void)ioctl(fd, SYSGENID_SET_WATCHER_TRACKING, 0);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void sources_add_locked(const volatile uint64_t *word)
{
	unsigned int n = gen_sources.count;

	if (n >= SOURCES_MAX)
		return;
	gen_sources.word[n] = word;
	/* Publish the pointer before the count: the hot path reads count first. */
	__atomic_store_n(&gen_sources.count, n + 1, __ATOMIC_RELEASE);
}

static void probe_page_locked(void)
{
	const struct snapsafe_page *page;
	char path[4096];

	if (gen_sources.page)
		return;
	if (runtime_path(path, sizeof(path), runtime_dir(NULL), SNAPSAFE_PAGE_FILE) < 0)
		return;
	page = map_readonly(path, SNAPSAFE_PAGE_SIZE, false);
	if (!page)
		return;
	if (page->magic != SNAPSAFE_PAGE_MAGIC || page->version != SNAPSAFE_PAGE_VERSION) {
		munmap((void *)page, SNAPSAFE_PAGE_SIZE);
		return;
	}
	sources_add_locked((const volatile uint64_t *)(const void *)page);
	__atomic_store_n(&gen_sources.page, page, __ATOMIC_RELEASE);
}

static void sources_init_once(void)
{
	/* Static: the mapping is used for the life of the process, like every source. */
	static struct vmclock_map *vm;
	const char *path;
	const void *sg;

	pthread_mutex_lock(&sources_lock);
	probe_page_locked();

	/* VMClock changes its counter before the guest runs again: no window at all. */
	path = secure_getenv("SNAPSAFE_VMCLOCK_PATH");
	if (vmclock_open(path && *path ? path : "/dev/vmclock0", &vm) == 0) {
		sources_add_locked(vmclock_generation_word(vm));
		gen_sources.vmclock = true;
	}
	/* Only a kernel device: a regular file there is the daemon's compat copy of the page. */
	sg = map_readonly("/dev/sysgenid", 4096, true);
	if (sg) {
		/* A u64 load at offset 0 stays inside the page; the u32 beside it is constant. */
		sources_add_locked((const volatile uint64_t *)sg);
		gen_sources.sysgenid = true;
	}
	pthread_mutex_unlock(&sources_lock);
}

void sources_init(void)
{
	pthread_once(&sources_once, sources_init_once);
}

static uint64_t monotonic_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sources_reprobe(void)
{
	uint64_t now;

	sources_init();
	if (__atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE))
		return;
	/* A daemon started after us: look again, at most once a second. */
	now = monotonic_coarse_ns();
	if (now - __atomic_load_n(&last_probe_ns, __ATOMIC_RELAXED) < 1000000000ull)
		return;
	__atomic_store_n(&last_probe_ns, now, __ATOMIC_RELAXED);
	pthread_mutex_lock(&sources_lock);
	probe_page_locked();
	pthread_mutex_unlock(&sources_lock);
}

const struct snapsafe_page *sources_page(void)
{
	sources_reprobe();
	return __atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE);
}
