/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmclock notifier: /dev/vmclock0's vm_generation_counter (Linux 7.0+ with a
 * hypervisor that sets VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT). The host changes it
 * before the guest runs again, so a reader that checks it (libsnapsafe does, on its
 * hot path) is race-free; the daemon raises the generation for everyone else. The
 * device is pollable when the hypervisor sends notifications; otherwise, and for a
 * test file given with --vmclock-path, the counter is re-read every POLL_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "vmclock.h"

enum {
	POLL_MS = 100,
};

static struct {
	struct daemon *d;
	struct vmclock_map *map;
	struct source dev;	/* the device, when pollable */
	struct source tick;	/* else a timerfd */
} vc = { .dev.fd = -1, .tick.fd = -1 };

static void check(struct daemon *d)
{
	uint64_t c;
	int r;

	r = vmclock_read_generation(vc.map, &c);
	if (r < 0) {
		log_debug_errno(r, "vmclock: read");
		return;
	}
	if (d->state.have_vmclock && c == d->state.vmclock_counter)
		return;
	log_notice("vmclock: vm_generation_counter is now %llu", (unsigned long long)c);
	d->state.have_vmclock = true;
	d->state.vmclock_counter = c;
	daemon_raise(d, SNAPSAFE_NOTIFIER_VMCLOCK, 0);
}

static void vmclock_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	char buf[128];

	if (s == &vc.tick) {
		daemon_timer_expired(s);
	} else if (pread(s->fd, buf, sizeof(buf), 0) < 0) {
		/* The read marks the notification as seen, so poll stops reporting it. */
	}
	check(d);
}

int notifier_vmclock_start(struct daemon *d)
{
	const char *path = d->opt.vmclock_path ? d->opt.vmclock_path : "/dev/vmclock0";
	uint64_t c;
	int r;

	r = vmclock_open(path, &vc.map);
	if (r < 0) {
		if (r == -ENOENT)
			log_info("vmclock: no %s: off", path);
		else
			log_info("vmclock: %s: %s: off", path, strerror(-r));
		return 0;
	}
	vc.d = d;
	r = vmclock_read_generation(vc.map, &c);
	if (r < 0) {
		log_info("vmclock: %s: %s: off", path, strerror(-r));
		vc.map = vmclock_close(vc.map);
		return 0;
	}
	/* First start: a baseline. After a restart: a changed counter was missed. */
	if (d->state.have_vmclock && d->state.vmclock_counter != c) {
		log_notice("vmclock: counter changed while snapsafed was not running");
		d->startup_raise = true;
	}
	d->state.have_vmclock = true;
	d->state.vmclock_counter = c;

	vc.dev.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (vc.dev.fd >= 0) {
		vc.dev.dispatch = vmclock_dispatch;
		if (daemon_add_source(d, &vc.dev, EPOLLIN) < 0) {
			close(vc.dev.fd);	/* EPERM: no poll support (a file, or before 7.0) */
			vc.dev.fd = -1;
		}
	}
	if (vc.dev.fd < 0) {
		vc.tick.dispatch = vmclock_dispatch;
		r = daemon_add_timer(d, &vc.tick, POLL_MS);
		if (r < 0) {
			log_warning_errno(r, "vmclock: timer");
			vc.map = vmclock_close(vc.map);
			return 0;
		}
	}
	log_info("vmclock: %s counter %llu (%s): live", path, (unsigned long long)c,
		 vc.dev.fd >= 0 ? "notifications" : "polled");
	return 1;
}

void notifier_vmclock_stop(void)
{
	if (vc.dev.fd >= 0)
		close(vc.dev.fd);
	if (vc.tick.fd >= 0)
		close(vc.tick.fd);
	vc.dev.fd = vc.tick.fd = -1;
	vc.map = vmclock_close(vc.map);
}
