/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's core: the one owner of the generation, the epoch, the quiesce flag, the set
 * of live notifiers, the notifiers' persisted positions, and the rule that decides which
 * notifier raises for a VM fork. Data flows one way (docs/daemon.md, "Structure"):
 *
 *	notifiers, control requests  ->  core  ->  sinks, in order:
 *	                                           state file, page, compat file, server
 *
 * Every change is published once, to every sink, in that order: the state file first, so
 * that a kill -9 right after cannot lower the generation; the page and compat file next,
 * so that libraries reseed; the server last, which tells the watchers. A sink never calls
 * back into the core.
 */
#ifndef SNAPSAFE_DAEMON_CORE_H
#define SNAPSAFE_DAEMON_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "page.h"

enum {
	/*
	 * A control request may not jump the generation closer than this to UINT32_MAX: the
	 * space left is what every later VM clone of this boot needs (docs/daemon.md).
	 */
	CORE_GENERATION_HEADROOM	= 1u << 20,
	/*
	 * kmsg and uevent report the VM fork that a live device notifier (sysgenid, VMClock)
	 * counts itself; the device is given this long to do so before they raise anyway.
	 */
	CORE_VM_FORK_DEFER_MS		= 2000,
};

/* What a sink is told changed; the state file takes every change, the others some. */
enum core_change {
	CORE_CHANGE_POSITIONS	= 1u << 0,	/* a notifier's persisted position only */
	CORE_CHANGE_EPOCH	= 1u << 1,
	CORE_CHANGE_GENERATION	= 1u << 2,
	CORE_CHANGE_FLAGS	= 1u << 3,	/* running, quiesced, the live set */
	CORE_CHANGE_ALL		= 0xfu,
};

struct core_position {
	bool have;
	uint64_t value;
};

/* Everything the core owns, as sinks see it. */
struct core_values {
	uint32_t generation;
	uint32_t epoch_counter;		/* 24 bits are published */
	unsigned epoch_id;		/* the notifier of the last event */
	bool running;			/* started and not stopping: the page says RUNNING */
	bool quiesced;
	uint64_t live;			/* bit n: notifier id n is live */
	uint64_t last_raise_ns;		/* CLOCK_REALTIME */
	uint64_t last_epoch_ns;
	uint64_t vmclock_settled;	/* the VMClock marker the kernel has reseeded since; 0: none */
	char boot_id[40];		/* kmsg positions are only valid within one boot */
	struct core_position position[_SNAPSAFE_NOTIFIER_MAX];
	/* Since this daemon started, for METRICS and STATUS; not persisted. */
	unsigned raise_id;		/* the notifier of the last raise; NONE: none yet */
	uint64_t raises[_SNAPSAFE_NOTIFIER_MAX];
	uint64_t epochs[_SNAPSAFE_NOTIFIER_MAX];
};

static inline uint32_t core_epoch_word(const struct core_values *v)
{
	return SNAPSAFE_EPOCH_MAKE(v->epoch_id, v->epoch_counter);
}

/*
 * A sink: publish() gets the values and the changes since its last call.
 * Return: 0, or a negative errno. A failing state file keeps its changes pending and
 * is retried at the next core_flush(); the other sinks cannot fail in a way that matters.
 */
struct sink_ops {
	const char *name;
	int (*publish)(void *ctx, const struct core_values *v, unsigned changes);
};

struct core;

int core_new(struct core **ret);
struct core *core_free(struct core *c);

/* core_add_sink() - append a sink; the order of the calls is the order of publication. */
int core_add_sink(struct core *c, const struct sink_ops *ops, void *ctx);

const struct core_values *core_values(const struct core *c);

/*
 * Before core_start(): what the state file, the page and the compat file remember.
 * core_restore() - take @saved as it was loaded from the state file.
 * core_floor() - never go below @generation / @epoch_counter (what a reader may have seen).
 */
void core_restore(struct core *c, const struct core_values *saved);
void core_floor(struct core *c, uint32_t generation, uint32_t epoch_counter, bool quiesced,
		uint64_t last_raise_ns);

/*
 * core_take_over() - the daemon owns the page now: publish "not running" with a new epoch,
 * so that libraries stop trusting what a dead predecessor left there, and persist once.
 * Return: 0, or the state file's error (start-up fails then).
 */
int core_take_over(struct core *c);

/*
 * core_missed() - a notifier found at start that an event happened while no daemon ran:
 * core_start() raises once (to at least @min_gen) for all of them.
 */
void core_missed(struct core *c, unsigned id, uint32_t min_gen);

/*
 * core_start() - everything is up: publish RUNNING, the live set, and either the raise for
 * missed events or a new epoch. Return: 0, or the state file's error.
 * core_stop() - publish "not running" with a new epoch (every exit path after take-over).
 */
int core_start(struct core *c);
void core_stop(struct core *c);

/* Notifier positions (the kmsg sequence, a device counter): persisted, never published. */
const struct core_position *core_position(const struct core *c, unsigned id);
void core_set_position(struct core *c, unsigned id, uint64_t value);

/*
 * core_raise() - a new generation max(current + 1, @min_gen) and a new epoch with @id.
 * Return: 0; -ERANGE when a control request's @min_gen would leave less than
 * CORE_GENERATION_HEADROOM (nothing changes); -EOVERFLOW at UINT32_MAX (then only the
 * epoch changes, so that RNGs still reseed).
 */
int core_raise(struct core *c, unsigned id, uint32_t min_gen);

/*
 * core_vm_fork() - kmsg or uevent (@id) saw the kernel handle a VM fork. Raises, unless a
 * live device notifier counts the same fork itself: then it waits up to
 * CORE_VM_FORK_DEFER_MS for the device's raise, and raises itself if the device does not
 * raise in time or stops being live.
 */
void core_vm_fork(struct core *c, unsigned id);

/*
 * The VMClock disruption marker, for libraries that hold on a CPU without a hardware
 * random input until the kernel has reseeded after a restore (docs/security.md).
 * core_vmclock_found() - before core_start(): the marker at start is settled (the kernel
 * has run since whatever moved it).
 * core_vmclock_marker() - the marker changed to @marker (a restore or a migration): settled
 * by the next raise, or with a new epoch after CORE_VM_FORK_DEFER_MS without one (a
 * migration; by then a restore's vmgenid notification has long been handled).
 */
void core_vmclock_found(struct core *c, uint64_t marker);
void core_vmclock_marker(struct core *c, uint64_t marker);

/* core_new_epoch() - a new epoch only (the timer). */
void core_new_epoch(struct core *c, unsigned id);

/*
 * core_quiesce() - set the quiesced flag, with a new epoch. Return: the generation.
 * core_resume() - all or nothing: raise and clear the flag, or change nothing.
 * Return: 0, or -EOVERFLOW when the generation cannot grow (the system stays quiesced).
 */
void core_quiesce(struct core *c);
int core_resume(struct core *c);

/*
 * core_set_live() - notifier @id is live or not. Every change of the live set is a new
 * epoch: a library that trusted the old set re-reads it before serving again.
 */
void core_set_live(struct core *c, unsigned id, bool live);

/*
 * core_flush() - after each batch of events: persist pending position changes (one write
 * per batch), act on a VM fork whose device did not count it in time, and settle a VMClock
 * marker that no raise followed in time.
 * core_timeout_ms() - how long the loop may sleep before core_flush() has work (-1: forever).
 */
void core_flush(struct core *c);
int core_timeout_ms(const struct core *c);

#endif
