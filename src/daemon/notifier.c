/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one list of notifiers and what they share (see notifier.h). */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "notifier.h"

static const struct notifier_ops *const all_notifiers[] = {
	&notifier_kmsg, &notifier_uevent, &notifier_vmclock, &notifier_sysgenid, &notifier_timer,
};

enum { N_NOTIFIERS = sizeof(all_notifiers) / sizeof(all_notifiers[0]) };

struct notifiers {
	struct notifier n[N_NOTIFIERS];
	size_t count;
};

static void notifier_dispatch(struct source *s, uint32_t events)
{
	struct notifier *n = s->userdata;

	n->ops->dispatch(n, s, events);
}

void notifier_source(struct notifier *n, struct source *s, int fd)
{
	*s = (struct source) { .fd = fd, .dispatch = notifier_dispatch, .userdata = n };
}

void notifier_set_live(struct notifier *n, bool live)
{
	n->live = live;
	core_set_live(n->core, n->ops->id, live);
}

int notifiers_open(struct core *core, struct event_loop *loop, const struct options *opt,
		   struct notifiers **ret)
{
	struct notifiers *ns = calloc(1, sizeof(*ns));
	int r = 0;

	if (!ns)
		return -ENOMEM;
	*ret = ns;
	for (size_t i = 0; i < N_NOTIFIERS; i++) {
		struct notifier *n = &ns->n[i];

		*n = (struct notifier) {
			.ops = all_notifiers[i], .core = core, .loop = loop, .opt = opt,
		};
		n->priv = calloc(1, n->ops->priv_size ? n->ops->priv_size : 1);
		if (!n->priv)
			return -ENOMEM;
		ns->count = i + 1;
		r = n->ops->open(n);
		if (r < 0)
			return r;
		notifier_set_live(n, r > 0);
	}
	/* The control plane (TRIGGER, RESUME) is always there. */
	core_set_live(core, SNAPSAFE_NOTIFIER_CONTROL, true);
	if (!(core_values(core)->live & SNAPSAFE_NOTIFIERS_COVER_VM))
		log_warning("No notifier covers VM snapshots on this system: libraries will serve "
			    "random bytes from the kernel");
	return 0;
}

struct notifiers *notifiers_close(struct notifiers *ns)
{
	if (!ns)
		return NULL;
	for (size_t i = ns->count; i-- > 0;) {
		struct notifier *n = &ns->n[i];

		n->ops->close(n);
		free(n->priv);
	}
	free(ns);
	return NULL;
}
