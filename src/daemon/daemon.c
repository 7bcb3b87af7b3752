/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generation and the epoch: every raise and every epoch change goes through
 * here, in one order: update the values, persist them (so a kill -9 right after
 * cannot lower the generation), publish the page and the compat file, then tell the
 * watchers. The epoch counter is one global counter of all events; the id in its
 * top byte names the notifier that caused the last one.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "protocol.h"

uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

int daemon_add_source(struct daemon *d, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	return 0;
}

int daemon_mod_source(struct daemon *d, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		return -errno;
	return 0;
}

void daemon_del_source(struct daemon *d, struct source *s)
{
	if (s->fd >= 0)
		epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
}

int daemon_add_timer(struct daemon *d, struct source *s, uint64_t interval_ms)
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
		r = daemon_add_source(d, s, EPOLLIN);
	if (r < 0) {
		close(s->fd);
		s->fd = -1;
	}
	return r;
}

bool daemon_timer_expired(struct source *s)
{
	uint64_t expirations;

	return read(s->fd, &expirations, sizeof(expirations)) == sizeof(expirations);
}

int daemon_save_state(struct daemon *d)
{
	int r;

	d->state.generation = d->generation;
	d->state.epoch_counter = d->epoch_counter;
	r = state_save(d->state_path, &d->state);
	if (r < 0)
		log_error_errno(r, "Cannot write %s", d->state_path);
	return r;
}

void daemon_publish(struct daemon *d)
{
	uint32_t flags = 0;

	if (!d->quit)
		flags |= SNAPSAFE_PAGE_RUNNING;
	if (d->quiesced)
		flags |= SNAPSAFE_PAGE_QUIESCED;
	if (d->page)
		page_write(d->page, d->generation, SNAPSAFE_EPOCH_MAKE(d->epoch_id, d->epoch_counter),
			   flags, d->quit ? 0 : getpid(), d->quit ? 0 : d->live, d->last_raise_ns,
			   d->last_epoch_ns);
	compat_store(d->compat, d->generation);
}

static void bump_epoch(struct daemon *d, unsigned id)
{
	/* 24 bits are published; the wrap skips nothing a reader could confuse. */
	d->epoch_counter = (d->epoch_counter + 1) & 0xffffffu;
	d->epoch_id = id;
	d->last_epoch_ns = now_realtime_ns();
}

int daemon_raise(struct daemon *d, unsigned id, uint32_t min_gen)
{
	uint32_t gen;

	if (d->generation == UINT32_MAX) {
		/*
		 * Nothing can tell watchers any more, but the event may still have duplicated
		 * memory: a new epoch at least makes every RNG reseed.
		 */
		log_error("Generation is at its maximum, cannot raise (%s): new epoch only",
			  protocol_notifier_name(id));
		daemon_new_epoch(d, id);
		return -EOVERFLOW;
	}
	gen = d->generation + 1;
	if (min_gen > gen)
		gen = min_gen;
	d->generation = gen;
	bump_epoch(d, id);
	d->last_raise_ns = d->last_epoch_ns;
	/* Persist first: after a kill -9 here the next start continues from >= gen. */
	daemon_save_state(d);
	daemon_publish(d);
	log_info("Generation %u (raised by %s)", gen, protocol_notifier_name(id));
	if (d->server)
		server_raised(d);
	return 0;
}

/*
 * kmsg and uevent report the VM fork that the kernel's vmgenid driver handles; a kernel
 * /dev/sysgenid counts the same fork (the module is called from that very path) and
 * VMClock's counter changes with it, before the guest runs. A live device therefore
 * raises for it, and raising here too would raise twice for one fork, which clients
 * such as AWS-LC take as two events.
 */
int daemon_vm_fork_reported(struct daemon *d, unsigned id)
{
	const uint64_t devices = 1ull << SNAPSAFE_NOTIFIER_SYSGENID | 1ull << SNAPSAFE_NOTIFIER_VMCLOCK;

	if (d->live & devices) {
		log_info("%s: VM fork already counted by the %s notifier", protocol_notifier_name(id),
			 protocol_notifier_name(d->live & (1ull << SNAPSAFE_NOTIFIER_SYSGENID) ?
						SNAPSAFE_NOTIFIER_SYSGENID : SNAPSAFE_NOTIFIER_VMCLOCK));
		return 0;
	}
	return daemon_raise(d, id, 0);
}

void daemon_new_epoch(struct daemon *d, unsigned id)
{
	bump_epoch(d, id);
	daemon_save_state(d);
	daemon_publish(d);
	log_debug("Epoch %06x (%s)", d->epoch_counter, protocol_notifier_name(id));
}

void daemon_set_quiesced(struct daemon *d, bool q)
{
	d->quiesced = q;
}

void daemon_set_live(struct daemon *d, unsigned id, bool live)
{
	if (live)
		d->live |= 1ull << id;
	else
		d->live &= ~(1ull << id);
}
