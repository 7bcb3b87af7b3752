/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's one epoll loop: every descriptor it waits on is a `struct source` whose
 * dispatch function runs when it is ready, plus the clocks every part of the daemon
 * reads. Single threaded. Timers are timerfds on the same loop.
 */
#ifndef SNAPSAFE_DAEMON_EVENT_LOOP_H
#define SNAPSAFE_DAEMON_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct source;

typedef void source_dispatch_fn(struct source *s, uint32_t events);

struct source {
	int fd;
	source_dispatch_fn *dispatch;
	void *userdata;
};

int event_loop_new(struct event_loop **ret);
struct event_loop *event_loop_free(struct event_loop *l);

int event_loop_add(struct event_loop *l, struct source *s, uint32_t events);
int event_loop_mod(struct event_loop *l, struct source *s, uint32_t events);
void event_loop_del(struct event_loop *l, struct source *s);

/*
 * event_loop_add_timer() - a timerfd firing every @interval_ms, on the loop as @s (whose
 * dispatch and userdata the caller sets). Return: 0, or -errno with s->fd = -1.
 * timer_expired() - consume the expirations in the dispatch; false if there were none.
 * source_close() - take @s off the loop and close its fd; fd becomes -1; idempotent.
 */
int event_loop_add_timer(struct event_loop *l, struct source *s, uint64_t interval_ms);
bool timer_expired(struct source *s);
void source_close(struct event_loop *l, struct source *s);

/*
 * event_loop_run_once() - wait up to @timeout_ms (-1: forever) and dispatch what is ready.
 * Return: the number of events dispatched, or -errno (EINTR is retried by the caller).
 * event_loop_now() - CLOCK_MONOTONIC in ms, read once when the wait returned: the one
 * "now" of a batch, for everything it dispatches and for the ticks after it, so that no
 * two parts of one batch disagree about the time.
 */
int event_loop_run_once(struct event_loop *l, int timeout_ms);
uint64_t event_loop_now(const struct event_loop *l);

/* Clocks: CLOCK_MONOTONIC in ms for deadlines, CLOCK_REALTIME in ns for what the page shows. */
uint64_t now_monotonic_ms(void);
uint64_t now_realtime_ns(void);

#endif
