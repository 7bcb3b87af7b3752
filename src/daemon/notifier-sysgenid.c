/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sysgenid notifier: mirrors a kernel /dev/sysgenid (the SysGenID driver some
 * vendor kernels carry). Its u32 at offset 0 of the mmap is the system generation;
 * poll reports it as readable while our acknowledged value is old, and a write of
 * the current value acknowledges it. Our generation is raised to at least the
 * kernel's (TRIGGER semantics with min_gen), so ours never trails it.
 *
 * The default path is used only when it is a character device: a regular file there
 * is most likely our own --sysgenid-compat output, and mirroring ourselves would loop.
 * --sysgenid-path may name a regular file (tests): it is re-read every POLL_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

enum {
	POLL_MS = 100,
};

static struct {
	int fd;
	bool is_device;
	const uint32_t *word;
	struct source src;	/* the device */
	struct source tick;	/* a file: a timerfd */
} sg = { .fd = -1, .src.fd = -1, .tick.fd = -1 };

static void check(struct daemon *d)
{
	uint32_t v = __atomic_load_n(sg.word, __ATOMIC_ACQUIRE);

	if (sg.is_device) {
		/* Acknowledge, so poll stops reporting it; a stale value gets EINVAL: retry later. */
		if (write(sg.fd, &v, sizeof(v)) < 0 && errno != EINVAL)
			log_debug_errno(errno, "sysgenid: acknowledge");
	}
	if (d->state.have_sysgenid && v == d->state.sysgenid_counter)
		return;
	log_notice("sysgenid: kernel generation is now %u", v);
	d->state.have_sysgenid = true;
	d->state.sysgenid_counter = v;
	daemon_raise(d, SNAPSAFE_NOTIFIER_SYSGENID, v);
}

static void sysgenid_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	if (s == &sg.tick)
		daemon_timer_expired(s);
	check(d);
}

int notifier_sysgenid_start(struct daemon *d)
{
	const char *path = d->opt.sysgenid_path ? d->opt.sysgenid_path : "/dev/sysgenid";
	struct stat st, cst;
	void *p;
	uint32_t v;
	int r;

	sg.fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (sg.fd < 0)
		sg.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (sg.fd < 0) {
		log_info("sysgenid: no %s: off", path);
		return 0;
	}
	if (fstat(sg.fd, &st) < 0)
		goto off;
	sg.is_device = S_ISCHR(st.st_mode);
	if (!sg.is_device && !(S_ISREG(st.st_mode) && d->opt.sysgenid_path)) {
		log_info("sysgenid: %s is not a kernel device: off", path);
		goto off;
	}
	if (!sg.is_device && st.st_size < 4) {
		log_info("sysgenid: %s is shorter than 4 bytes: off", path);
		goto off;
	}
	/*
	 * A device is never our compat file (compat.c leaves a character device alone), so
	 * `--sysgenid-compat /dev/sysgenid` with the kernel's device there must keep this live.
	 */
	if (!sg.is_device && d->opt.compat_path && stat(d->opt.compat_path, &cst) == 0 &&
	    cst.st_dev == st.st_dev && cst.st_ino == st.st_ino) {
		log_info("sysgenid: %s is our own compat file: off", path);
		goto off;
	}
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, sg.fd, 0);
	if (p == MAP_FAILED) {
		log_info("sysgenid: cannot map %s: %m: off", path);
		goto off;
	}
	sg.word = p;
	v = __atomic_load_n(sg.word, __ATOMIC_ACQUIRE);

	/* First start: a baseline (but never below it). After a restart: a missed change. */
	if (d->state.have_sysgenid && d->state.sysgenid_counter != v) {
		log_notice("sysgenid: changed while snapsafed was not running");
		d->startup_raise = true;
	}
	if (v > d->startup_min_gen)
		d->startup_min_gen = v;
	if (!d->state.have_sysgenid || d->state.sysgenid_counter != v) {
		d->state.have_sysgenid = true;
		d->state.sysgenid_counter = v;
	}
	/* Our generation must not trail the kernel's even without a raise. */
	if (d->generation < v)
		d->startup_raise = true;

	if (sg.is_device) {
		sg.src = (struct source) { .fd = sg.fd, .dispatch = sysgenid_dispatch };
		if (daemon_add_source(d, &sg.src, EPOLLIN) == 0)
			goto live;
		sg.src.fd = -1;
	}
	sg.tick.dispatch = sysgenid_dispatch;
	r = daemon_add_timer(d, &sg.tick, POLL_MS);
	if (r < 0) {
		log_warning_errno(r, "sysgenid: timer");
		goto off;
	}
live:
	log_info("sysgenid: mirroring %s (now %u): live", path, v);
	return 1;
off:
	notifier_sysgenid_stop();
	return 0;
}

void notifier_sysgenid_stop(void)
{
	if (sg.word)
		munmap((void *)sg.word, 4096);
	sg.word = NULL;
	if (sg.tick.fd >= 0)
		close(sg.tick.fd);
	if (sg.fd >= 0)
		close(sg.fd);
	sg.fd = sg.tick.fd = sg.src.fd = -1;
}
