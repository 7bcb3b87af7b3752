/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The epoll loop and timerfds (see event-loop.h). Deliberately small: no priorities, no
 * deferred callbacks; the server and the core keep their own deadlines and the main
 * loop asks them how long it may sleep.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "event-loop.h"

enum { EVENT_BATCH = 64 };

struct event_loop {
	int epoll_fd;
	uint64_t now_ms;
};

int event_loop_new(struct event_loop **ret)
{
	struct event_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->now_ms = now_monotonic_ms();
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0) {
		int r = -errno;

		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct event_loop *event_loop_free(struct event_loop *l)
{
	if (l) {
		close(l->epoll_fd);
		free(l);
	}
	return NULL;
}

int event_loop_add(struct event_loop *l, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

int event_loop_mod(struct event_loop *l, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

void event_loop_del(struct event_loop *l, struct source *s)
{
	if (s->fd >= 0)
		(void)epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
}

void source_close(struct event_loop *l, struct source *s)
{
	if (s->fd < 0)
		return;
	event_loop_del(l, s);
	close(s->fd);
	s->fd = -1;
}

int event_loop_add_timer(struct event_loop *l, struct source *s, uint64_t interval_ms)
{
	struct itimerspec its = {
		.it_interval = {
			.tv_sec = (time_t)(interval_ms / 1000),
			.tv_nsec = (long)(interval_ms % 1000) * 1000000L,
		},
	};
	int r;

	its.it_value = its.it_interval;
	s->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	if (timerfd_settime(s->fd, 0, &its, NULL) < 0)
		r = -errno;
	else
		r = event_loop_add(l, s, EPOLLIN);
	if (r < 0) {
		close(s->fd);
		s->fd = -1;
	}
	return r;
}

bool timer_expired(struct source *s)
{
	uint64_t expirations;

	return read(s->fd, &expirations, sizeof(expirations)) == sizeof(expirations);
}

int event_loop_run_once(struct event_loop *l, int timeout_ms)
{
	struct epoll_event ev[EVENT_BATCH];
	int n = epoll_wait(l->epoll_fd, ev, EVENT_BATCH, timeout_ms);

	l->now_ms = now_monotonic_ms();
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct source *s = ev[i].data.ptr;

		s->dispatch(s, ev[i].events);
	}
	return n;
}

uint64_t event_loop_now(const struct event_loop *l)
{
	return l->now_ms;
}

uint64_t now_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
