/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sysgenid notifier: mirrors a kernel /dev/sysgenid (the SysGenID driver some vendor
 * kernels carry, or kmod/). Its u32 at offset 0 of the mmap is the system generation;
 * poll reports it as readable while our acknowledged value is old, and a write of the
 * current value acknowledges it. Our generation is raised to at least the kernel's, so
 * ours never trails it.
 *
 * The default path is used only when it is a character device: a regular file there is
 * most likely our own --sysgenid-compat output, and mirroring ourselves would loop.
 * --sysgenid-path may name a regular file (tests): it is re-read every POLL_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "notifier.h"

enum {
	POLL_MS	= 100,
	ID	= SNAPSAFE_NOTIFIER_SYSGENID,
};

struct sysgenid {
	struct source src;	/* the device (pollable), or the file */
	struct source tick;	/* a file: a timerfd */
	bool is_device;
	const uint32_t *word;
};

static void check(struct notifier *n)
{
	struct sysgenid *sg = n->priv;
	const struct core_position *last = core_position(n->core, ID);
	uint32_t v = __atomic_load_n(sg->word, __ATOMIC_ACQUIRE);

	/* Acknowledge, so poll stops reporting it; a stale value gets EINVAL: retry later. */
	if (sg->is_device && write(sg->src.fd, &v, sizeof(v)) < 0 && errno != EINVAL)
		log_debug_errno(errno, "sysgenid: acknowledge");
	if (last->have && v == last->value)
		return;
	log_notice("sysgenid: kernel generation is now %u", v);
	core_set_position(n->core, ID, v);
	core_raise(n->core, ID, v);
}

static void sysgenid_dispatch(struct notifier *n, struct source *s, uint32_t events)
{
	struct sysgenid *sg = n->priv;

	if (s == &sg->tick)
		timer_expired(s);
	check(n);
}

/* Is @st the compat file this daemon publishes (--sysgenid-compat)? */
static bool is_own_compat_file(const struct notifier *n, const struct stat *st)
{
	struct stat cst;

	return n->opt->compat_path && stat(n->opt->compat_path, &cst) == 0 &&
	       cst.st_dev == st->st_dev && cst.st_ino == st->st_ino;
}

static int sysgenid_open(struct notifier *n)
{
	const char *path = n->opt->sysgenid_path ? n->opt->sysgenid_path : "/dev/sysgenid";
	bool explicit = n->opt->sysgenid_path != NULL;
	const struct core_position *last = core_position(n->core, ID);
	struct sysgenid *sg = n->priv;
	const char *why = NULL;
	struct stat st;
	void *p;
	uint32_t v;
	int fd, r = 0;

	sg->src.fd = sg->tick.fd = -1;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (explicit)
			return log_error_errno(errno, "sysgenid: --sysgenid-path %s", path);
		log_info("sysgenid: no %s: off", path);
		return 0;
	}
	notifier_source(n, &sg->src, fd);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		why = "cannot stat it";
		goto off;
	}
	sg->is_device = S_ISCHR(st.st_mode);
	/* A device is never our compat file (compat-file.c leaves a character device alone). */
	if (!sg->is_device && !(S_ISREG(st.st_mode) && explicit)) {
		why = "not a kernel device";
		goto off;
	}
	if (!sg->is_device && st.st_size < 4) {
		why = "shorter than 4 bytes";
		goto off;
	}
	if (!sg->is_device && is_own_compat_file(n, &st)) {
		why = "our own compat file";
		goto off;
	}
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		why = "cannot map it";
		goto off;
	}
	sg->word = p;
	v = __atomic_load_n(sg->word, __ATOMIC_ACQUIRE);

	/* First start: a baseline (but never below it). After a restart: a missed change. */
	if ((last->have && last->value != v) || core_values(n->core)->generation < v) {
		log_notice("sysgenid: changed while snapsafed was not running");
		core_missed(n->core, ID, v);
	}
	core_set_position(n->core, ID, v);

	if (sg->is_device && event_loop_add(n->loop, &sg->src, EPOLLIN) == 0)
		goto live;
	notifier_source(n, &sg->tick, -1);
	r = event_loop_add_timer(n->loop, &sg->tick, POLL_MS);
	if (r < 0) {
		why = "no timer";
		goto off;
	}
live:
	log_info("sysgenid: mirroring %s (now %u): live", path, v);
	return 1;
off:
	/* A path the operator named must work; the default device may be anything. */
	if (explicit)
		return log_error_errno(r < 0 ? r : EINVAL, "sysgenid: --sysgenid-path %s: %s",
				       path, why);
	log_info("sysgenid: %s is %s: off", path, why);
	return 0;
}

static void sysgenid_close(struct notifier *n)
{
	struct sysgenid *sg = n->priv;

	if (sg->word)
		munmap((void *)sg->word, 4096);
	sg->word = NULL;
	source_close(n->loop, &sg->tick);
	source_close(n->loop, &sg->src);
}

const struct notifier_ops notifier_sysgenid = {
	.id = ID,
	.priv_size = sizeof(struct sysgenid),
	.open = sysgenid_open,
	.dispatch = sysgenid_dispatch,
	.close = sysgenid_close,
};
