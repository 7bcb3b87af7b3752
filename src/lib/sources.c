/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Maps the generation sources read-only and publishes them in gen_sources.
 * Sources are only ever added, never removed: a mapping stays valid for the life
 * of the process (the daemon updates its page in place and never recreates it).
 *
 * No lock: the first mapping is a once_run() (guard.h), and the later look for a daemon
 * page is a claim that a caller who finds it taken skips instead of waiting for. Both name
 * the process that holds them, so a child forked while another thread of its parent was
 * mapping takes them over. Only their holder adds words, and adding is one release store
 * of the count after the word: a reader, or a fork, sees a whole table at every moment.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "runtime-dir.h"
#include "sources.h"
#include "../../kmod/include/uapi/linux/sysgenid.h"

enum {
	PROBE_INTERVAL_NS	= 1000000000,
	/* A Unix socket's path is shorter still; a small stack frame suits a signal handler. */
	PAGE_PATH_MAX		= 512,
};

struct gen_sources gen_sources;

static unsigned int sources_once;
static unsigned int probe_claim;
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

/* Only the holder of sources_once or probe_claim adds, so adds never race. */
static bool sources_add(const volatile uint64_t *word)
{
	unsigned int n = __atomic_load_n(&gen_sources.count, __ATOMIC_RELAXED);

	if (n >= SOURCES_MAX)
		return false;
	gen_sources.word[n] = word;
	/* Publish the pointer before the count: the hot path reads count first. */
	__atomic_store_n(&gen_sources.count, n + 1, __ATOMIC_RELEASE);
	return true;
}

/* "<runtime dir>/generation" without snprintf: this may run in a signal handler. */
static bool page_path(char *buf, size_t size)
{
	const char *dir = runtime_dir(NULL);
	size_t d = strlen(dir), f = strlen(SNAPSAFE_PAGE_FILE);

	if (d + 1 + f + 1 > size)
		return false;
	memcpy(buf, dir, d);
	buf[d] = '/';
	memcpy(buf + d + 1, SNAPSAFE_PAGE_FILE, f + 1);
	return true;
}

static void probe_page(void)
{
	const struct snapsafe_page *page;
	char path[PAGE_PATH_MAX];

	if (__atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE))
		return;
	if (!page_path(path, sizeof(path)))
		return;
	page = map_readonly(path, SNAPSAFE_PAGE_SIZE, false);
	if (!page)
		return;
	if (page->magic != SNAPSAFE_PAGE_MAGIC || page->version != SNAPSAFE_PAGE_VERSION ||
	    !sources_add((const volatile uint64_t *)(const void *)page)) {
		munmap((void *)page, SNAPSAFE_PAGE_SIZE);
		return;
	}
	__atomic_store_n(&gen_sources.page, page, __ATOMIC_RELEASE);
}

/*
 * Also run again from the start by a child forked while a thread of its parent was half-way:
 * each source is added only if it is not there yet, so the table keeps room for a repeat.
 */
static bool sources_init_once(void)
{
	struct vmclock_map *vm;
	const char *path;
	const void *sg;

	probe_page();

	/* VMClock changes its counter before the guest runs again: no window at all. */
	path = secure_getenv("SNAPSAFE_VMCLOCK_PATH");
	if (!__atomic_load_n(&gen_sources.vmclock, __ATOMIC_ACQUIRE) &&
	    vmclock_open(path && *path ? path : "/dev/vmclock0", &vm) == 0) {
		/*
		 * The disruption marker changes on every restore (QEMU offers nothing else), the
		 * counter on restores where the host offers it (flag bit 8), the flags when the
		 * host withdraws or offers the counter. The host writes each of them inside the
		 * page's seqlock, so one word on the hot path sees them all: seq_count. Its change
		 * makes the engine reseed, and the reseed reads the words themselves (policy.c).
		 * A clock update moves it too, which costs a reseed, nothing more. The map stays
		 * for the life of the process, like every source.
		 */
		if (sources_add(vmclock_seq_word(vm)))
			__atomic_store_n(&gen_sources.vmclock, vm, __ATOMIC_RELEASE);
	}
	/* Only a kernel device: a regular file there is the daemon's compat copy of the page. */
	if (!__atomic_load_n(&gen_sources.sysgenid, __ATOMIC_ACQUIRE)) {
		sg = map_readonly("/dev/sysgenid", 4096, true);
		/* A u64 load at offset 0 stays inside the page; the u32 beside it is constant. */
		if (sg && sources_add((const volatile uint64_t *)sg))
			__atomic_store_n(&gen_sources.sysgenid, true, __ATOMIC_RELEASE);
	}
	return true;
}

bool sources_init(void)
{
	return once_run(&sources_once, sources_init_once);
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
	int cancel;

	/* Also keeps a reprobe from adding words while the first mapping does. */
	if (!sources_init())
		return;
	if (__atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE))
		return;
	/* A daemon started after us: look again, at most once a second. */
	now = monotonic_coarse_ns();
	if (now - __atomic_load_n(&last_probe_ns, __ATOMIC_RELAXED) < PROBE_INTERVAL_NS)
		return;
	/* Someone else is looking right now (maybe the call this handler interrupted): skip. */
	if (!claim_try(&probe_claim))
		return;
	__atomic_store_n(&last_probe_ns, now, __ATOMIC_RELAXED);
	/* open() is a cancellation point: a cancel there must not leave the claim held. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	probe_page();
	pthread_setcancelstate(cancel, NULL);
	claim_drop(&probe_claim);
}

const struct snapsafe_page *sources_page(void)
{
	sources_reprobe();
	return __atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE);
}
