/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The timer notifier (--timer SECONDS): a new epoch at a fixed interval, the periodic
 * reseed of the RNG-epoch proposal. It never changes the generation: nothing was
 * duplicated, so watchers and the compat file are not disturbed.
 */
#include "log.h"
#include "notifier.h"

struct timer {
	struct source src;
};

static void timer_dispatch(struct notifier *n, struct source *s, uint32_t events)
{
	if (timer_expired(s))
		core_new_epoch(n->core, SNAPSAFE_NOTIFIER_TIMER);
}

static int timer_open(struct notifier *n)
{
	struct timer *t = n->priv;
	int r;

	t->src.fd = -1;
	if (n->opt->timer_sec == 0)
		return 0;
	notifier_source(n, &t->src, -1);
	r = event_loop_add_timer(n->loop, &t->src, (uint64_t)n->opt->timer_sec * 1000);
	if (r < 0)
		return log_error_errno(r, "timer");
	log_info("timer: a new epoch every %u s: live", n->opt->timer_sec);
	return 1;
}

static void timer_close(struct notifier *n)
{
	struct timer *t = n->priv;

	source_close(n->loop, &t->src);
}

const struct notifier_ops notifier_timer = {
	.id = SNAPSAFE_NOTIFIER_TIMER,
	.priv_size = sizeof(struct timer),
	.open = timer_open,
	.dispatch = timer_dispatch,
	.close = timer_close,
};
