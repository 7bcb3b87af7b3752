/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmclock notifier: /dev/vmclock0 (Linux 6.13+ ptp_vmclock). The host rewrites the page
 * before the guest runs again, so a reader that checks it (libsnapsafe does, on its hot path)
 * sees a restore before anything else runs. Two words matter:
 *
 *  - vm_generation_counter (flag bit 8, the Linux 7.0 ABI; Firecracker sets it): changes on
 *    a snapshot restore, i.e. a duplication. It raises the generation, and while the host
 *    offers it the notifier is live (it counts VM forks itself: core.c's rule).
 *  - disruption_marker: changes on every restore and every live migration (QEMU offers only
 *    this one, flags 0). A migration duplicates nothing, and the marker cannot tell the
 *    two apart, so a change of the marker alone is a new epoch only (RNGs reseed); on such
 *    hosts the kernel's VM-fork record (vmfork-kmsg) raises the generation for a restore.
 *    The core settles each marker in the page (core_vmclock_marker()) for libraries that
 *    hold on a CPU without a hardware random input until the kernel has reseeded.
 *
 * The host may withdraw the counter (bit 8 cleared, e.g. after a migration to an older
 * host): the notifier stops being live at once, which hands VM forks back to kmsg and tells
 * libraries, through the new epoch, to stop trusting it. It keeps watching and is live again,
 * from a new baseline, when the counter comes back.
 *
 * With flag bit 9 the device reports changes through poll(); otherwise (and for a test file
 * given with --vmclock-path) the page is read every POLL_MS. (Linux 7.x's poll() answers
 * POLLHUP at once without bit 9: the device is never polled then.)
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
	struct source dev;	/* the device, when it notifies */
	struct source tick;	/* else a timer */
	uint64_t marker;	/* the disruption marker last seen */
};

static bool has_counter(const struct vmclock_reading *r)
{
	return r->flags & VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
}

static void check(struct notifier *n)
{
	struct vmclock *vc = n->priv;
	const struct core_position *last = core_position(n->core, ID);
	struct vmclock_reading r;
	bool raised = false;
	int e;

	e = vmclock_read(vc->map, &r);
	if (e < 0) {
		log_debug_errno(e, "vmclock: read");
		return;
	}
	if (!has_counter(&r)) {
		if (n->live) {
			log_warning("vmclock: the host withdrew vm_generation_counter; VM forks are "
				    "left to the other notifiers");
			notifier_set_live(n, false);
		}
	} else if (!n->live) {
		/* Back, or offered for the first time: its value says nothing yet. A baseline. */
		log_notice("vmclock: vm_generation_counter is offered (%llu)",
			   (unsigned long long)r.generation);
		core_set_position(n->core, ID, r.generation);
		notifier_set_live(n, true);
	} else if (!last->have || r.generation != last->value) {
		log_notice("vmclock: vm_generation_counter is now %llu",
			   (unsigned long long)r.generation);
		core_set_position(n->core, ID, r.generation);
		core_raise(n->core, ID, 0);
		raised = true;
	}
	if (r.marker != vc->marker) {
		vc->marker = r.marker;
		/* A raise made a new epoch already; a marker alone (a migration?) makes one. */
		if (!raised) {
			log_notice("vmclock: disruption_marker changed (a restore or a migration): "
				   "new epoch");
			core_new_epoch(n->core, ID);
		}
		/*
		 * After any raise above: that one came with the restore, not after the kernel's
		 * reseed. A later raise, or the core's deadline, settles the marker.
		 */
		core_vmclock_marker(n->core, r.marker);
	}
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
	struct vmclock_reading r;
	int e, fd;

	vc->dev.fd = vc->tick.fd = -1;
	e = vmclock_open(path, &vc->map);
	if (e == 0)
		e = vmclock_read(vc->map, &r);
	if (e < 0) {
		if (explicit)
			return log_error_errno(e, "vmclock: --vmclock-path %s", path);
		log_info("vmclock: %s: %s: off", path, strerror(-e));
		return 0;
	}
	vc->marker = r.marker;
	core_vmclock_found(n->core, r.marker);
	if (has_counter(&r)) {
		/* First start: a baseline. After a restart: a changed counter was missed. */
		if (last->have && last->value != r.generation) {
			log_notice("vmclock: counter changed while snapsafed was not running");
			core_missed(n->core, ID, 0);
		}
		core_set_position(n->core, ID, r.generation);
	}

	if (r.flags & VMCLOCK_FLAG_NOTIFICATION_PRESENT) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd >= 0) {
			notifier_source(n, &vc->dev, fd);
			if (event_loop_add(n->loop, &vc->dev, EPOLLIN) < 0) {
				close(fd);
				vc->dev.fd = -1;
			}
		}
	}
	if (vc->dev.fd < 0) {
		notifier_source(n, &vc->tick, -1);
		e = event_loop_add_timer(n->loop, &vc->tick, POLL_MS);
		if (e < 0) {
			log_error_errno(e, "vmclock: timer");
			return explicit ? e : 0;
		}
	}
	if (!has_counter(&r)) {
		/* Still watched: the marker makes epochs, and the counter may be offered later. */
		log_info("vmclock: %s has no vm_generation_counter (disruption marker only: new "
			 "epochs, no raises): off", path);
		return 0;
	}
	log_info("vmclock: %s counter %llu (%s): live", path, (unsigned long long)r.generation,
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
