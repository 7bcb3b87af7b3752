/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Notifiers: what tells the daemon that memory may have been duplicated (docs/daemon.md,
 * "Notifiers"). Each is an ops table with per-instance state, opened from the one list in
 * notifier.c. A notifier only reports to the core (core_raise, core_vm_fork,
 * core_new_epoch, core_set_live, core_set_position, core_missed); it never publishes and
 * never decides what another notifier's event means: the core does.
 */
#ifndef SNAPSAFE_DAEMON_NOTIFIER_H
#define SNAPSAFE_DAEMON_NOTIFIER_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "event-loop.h"
#include "options.h"

struct notifier;

struct notifier_ops {
	unsigned id;			/* SNAPSAFE_NOTIFIER_*: its epoch id and live bit */
	size_t priv_size;		/* zeroed per-instance state, n->priv */
	/*
	 * open() - detect the source and start watching it; report events missed while no
	 * daemon ran with core_missed(). Return: 1 live, 0 absent (off, logged), or a
	 * negative errno when a source the options named explicitly cannot be used
	 * (logged; start-up fails with exit status 2).
	 */
	int (*open)(struct notifier *n);
	/* dispatch() - one of its sources is ready (its sources' userdata is @n). */
	void (*dispatch)(struct notifier *n, struct source *s, uint32_t events);
	/* close() - stop watching, free what open() took; also after a failed open(). */
	void (*close)(struct notifier *n);
};

struct notifier {
	const struct notifier_ops *ops;
	struct core *core;
	struct event_loop *loop;
	const struct options *opt;
	void *priv;
	bool live;			/* what it last reported; set through notifier_set_live() */
};

/*
 * notifier_source() - make @s a source of @n: events go to n->ops->dispatch().
 * notifier_set_live() - record and report to the core whether @n is live.
 */
void notifier_source(struct notifier *n, struct source *s, int fd);
void notifier_set_live(struct notifier *n, bool live);

/*
 * notifiers_open() - open every notifier of the one list. Return: 0, or the first
 * negative errno of a notifier whose explicitly configured source failed.
 * notifiers_close() - close them all; accepts what notifiers_open() left half done.
 */
struct notifiers;
int notifiers_open(struct core *core, struct event_loop *loop, const struct options *opt,
		   struct notifiers **ret);
struct notifiers *notifiers_close(struct notifiers *ns);

extern const struct notifier_ops notifier_kmsg, notifier_uevent, notifier_vmclock,
	notifier_sysgenid, notifier_timer;

/* A vmgenid device is bound: the kmsg record and the uevent can happen at all. */
bool vmgenid_device_present(void);

#endif
