/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The timer notifier (--timer SECONDS): a new epoch at a fixed interval, the periodic
 * reseed of the RNG-epoch proposal. It never changes the generation: nothing was
 * duplicated, so watchers and the compat file are not disturbed.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static struct source timer_src = { .fd = -1 };

static void timer_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	uint64_t exp;

	if (read(s->fd, &exp, sizeof(exp)) != sizeof(exp))
		return;
	daemon_new_epoch(d, SNAPSAFE_NOTIFIER_TIMER);
}

int notifier_timer_start(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = d->opt.timer_sec },
		.it_value = { .tv_sec = d->opt.timer_sec },
	};
	int r;

	if (d->opt.timer_sec == 0)
		return 0;
	timer_src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer_src.fd < 0)
		return log_error_errno(errno, "timer: timerfd_create");
	timer_src.dispatch = timer_dispatch;
	if (timerfd_settime(timer_src.fd, 0, &its, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	r = daemon_add_source(d, &timer_src, EPOLLIN);
	if (r < 0)
		goto fail;
	log_info("timer: a new epoch every %u s: live", d->opt.timer_sec);
	return 1;
fail:
	close(timer_src.fd);
	timer_src.fd = -1;
	return log_error_errno(r, "timer");
}

void notifier_timer_stop(void)
{
	if (timer_src.fd >= 0)
		close(timer_src.fd);
	timer_src.fd = -1;
}
