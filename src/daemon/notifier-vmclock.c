/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmclock notifier: /dev/vmclock0's vm_generation_counter (Linux 7.0+ with a
 * hypervisor that sets VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT, flag bit 8). The host changes
 * it before the guest runs again, so a reader that checks it (libsnapsafe does, on its hot
 * path) is race-free; the daemon raises the generation for everyone else.
 *
 * The host may withdraw the counter (bit 8 cleared, e.g. after a migration to an older
 * host): the notifier then stops being live at once, which hands VM forks back to kmsg
 * (the core's rule) and tells libraries, through the new epoch, to stop trusting it. It
 * keeps watching and is live again, from a new baseline, when the counter comes back.
 *
 * The device is pollable when the hypervisor sends notifications; the counter is also
 * re-read every POLL_MS, which is all a test file given with --vmclock-path gets.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "notifier.h"
#include "vmclock.h"

enum {
	POLL_MS	= 100,
	ID	= SNAPSAFE_NOTIFIER_VMCLOCK,
};

struct vmclock {
	struct vmclock_map *map;
	struct source dev;	/* the device, when pollable */
	struct source tick;
};

static void check(struct notifier *n)
{
	struct vmclock *vc = n->priv;
	const struct core_position *last = core_position(n->core, ID);
	uint64_t c;
	int r;

	r = vmclock_read_generation(vc->map, &c);
	if (r == -EOPNOTSUPP) {
		if (n->live) {
			log_warning("vmclock: the host withdrew vm_generation_counter; VM forks are "
				    "left to the other notifiers");
			notifier_set_live(n, false);
		}
		return;
	}
	if (r < 0) {
		log_debug_errno(r, "vmclock: read");
		return;
	}
	if (!n->live) {
		/* Back from another host: its counter says nothing about ours. A new baseline. */
		log_notice("vmclock: vm_generation_counter is back (%llu)", (unsigned long long)c);
		core_set_position(n->core, ID, c);
		notifier_set_live(n, true);
		return;
	}
	if (last->have && c == last->value)
		return;
	log_notice("vmclock: vm_generation_counter is now %llu", (unsigned long long)c);
	core_set_position(n->core, ID, c);
	core_raise(n->core, ID, 0);
}

static void vmclock_dispatch(struct notifier *n, struct source *s, uint32_t events)
{
	struct vmclock *vc = n->priv;
	char buf[128];

	if (s == &vc->tick)
		timer_expired(s);
	else if (pread(s->fd, buf, sizeof(buf), 0) < 0) {
		/* The read marks the notification as seen, so poll stops reporting it. */
	}
	check(n);
}

static int vmclock_open_notifier(struct notifier *n)
{
	const char *path = n->opt->vmclock_path ? n->opt->vmclock_path : "/dev/vmclock0";
	bool explicit = n->opt->vmclock_path != NULL;
	const struct core_position *last = core_position(n->core, ID);
	struct vmclock *vc = n->priv;
	uint64_t c;
	int r, fd;

	vc->dev.fd = vc->tick.fd = -1;
	r = vmclock_open(path, &vc->map);
	if (r == 0)
		r = vmclock_read_generation(vc->map, &c);
	if (r == -EOPNOTSUPP) {
		log_info("vmclock: %s has no vm_generation_counter: off", path);
		return 0;
	}
	if (r < 0) {
		if (explicit)
			return log_error_errno(r, "vmclock: --vmclock-path %s", path);
		log_info("vmclock: %s: %s: off", path, strerror(-r));
		return 0;
	}
	/* First start: a baseline. After a restart: a changed counter was missed. */
	if (last->have && last->value != c) {
		log_notice("vmclock: counter changed while snapsafed was not running");
		core_missed(n->core, ID, 0);
	}
	core_set_position(n->core, ID, c);

	notifier_source(n, &vc->tick, -1);
	r = event_loop_add_timer(n->loop, &vc->tick, POLL_MS);
	if (r < 0) {
		log_error_errno(r, "vmclock: timer");
		return explicit ? r : 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd >= 0) {
		notifier_source(n, &vc->dev, fd);
		/* EPERM: no poll support (a file, or a device before 7.0): the timer does it. */
		if (event_loop_add(n->loop, &vc->dev, EPOLLIN) < 0) {
			close(fd);
			vc->dev.fd = -1;
		}
	}
	log_info("vmclock: %s counter %llu (%s): live", path, (unsigned long long)c,
		 vc->dev.fd >= 0 ? "notifications" : "polled");
	return 1;
}

static void vmclock_close_notifier(struct notifier *n)
{
	struct vmclock *vc = n->priv;

	source_close(n->loop, &vc->dev);
	source_close(n->loop, &vc->tick);
	vc->map = vmclock_close(vc->map);
}

const struct notifier_ops notifier_vmclock = {
	.id = ID,
	.priv_size = sizeof(struct vmclock),
	.open = vmclock_open_notifier,
	.dispatch = vmclock_dispatch,
	.close = vmclock_close_notifier,
};
