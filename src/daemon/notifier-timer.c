/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The timer notifier (--timer SECONDS): a new epoch at a fixed interval, the periodic
 * reseed of the RNG-epoch proposal. It never changes the generation: nothing was
 * duplicated, so watchers and the compat file are not disturbed.
 */
#include <stdint.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static struct source timer_src = { .fd = -1 };

static void timer_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	if (daemon_timer_expired(s))
		daemon_new_epoch(d, SNAPSAFE_NOTIFIER_TIMER);
}

int notifier_timer_start(struct daemon *d)
{
	int r;

	if (d->opt.timer_sec == 0)
		return 0;
	timer_src.dispatch = timer_dispatch;
	r = daemon_add_timer(d, &timer_src, (uint64_t)d->opt.timer_sec * 1000);
	if (r < 0)
		return log_error_errno(r, "timer");
	log_info("timer: a new epoch every %u s: live", d->opt.timer_sec);
	return 1;
}

void notifier_timer_stop(void)
{
	if (timer_src.fd >= 0)
		close(timer_src.fd);
	timer_src.fd = -1;
}
