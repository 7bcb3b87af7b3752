/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core (see core.h): the generation, the epoch, the live set and the VM-fork rule, and
 * the one place that publishes them. The epoch counter is one global counter of all
 * events; the id in its top byte names the notifier that caused the last one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "event-loop.h"
#include "log.h"
#include "protocol.h"

enum { SINKS_MAX = 8 };

/* Device notifiers count a VM fork themselves; kmsg and uevent only report it. */
#define DEVICE_NOTIFIERS \
	(1ull << SNAPSAFE_NOTIFIER_SYSGENID | 1ull << SNAPSAFE_NOTIFIER_VMCLOCK)

struct sink {
	const struct sink_ops *ops;
	void *ctx;
	unsigned pending;	/* changes this sink has not taken yet */
};

struct core {
	struct core_values v;
	struct sink sinks[SINKS_MAX];
	unsigned n_sinks;
	bool taken_over;	/* publishing is on (the daemon holds the page lock) */
	bool started;		/* core_start() ran: the live set is published as it changes */

	/* Events that happened while no daemon ran: one raise at start. */
	bool missed;
	unsigned missed_id;
	uint32_t missed_min_gen;

	/* A VM fork that kmsg/uevent reported and a live device should count. */
	bool vm_fork_pending;
	unsigned vm_fork_pending_id;
	uint64_t vm_fork_deadline_ms;
	uint64_t last_device_raise_ms;

	/* A VMClock marker change that no raise has followed yet. */
	bool marker_pending;
	uint64_t marker;
	uint64_t marker_deadline_ms;
};

int core_new(struct core **ret)
{
	struct core *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

struct core *core_free(struct core *c)
{
	free(c);
	return NULL;
}

int core_add_sink(struct core *c, const struct sink_ops *ops, void *ctx)
{
	if (c->n_sinks >= SINKS_MAX)
		return -ENOSPC;
	c->sinks[c->n_sinks++] = (struct sink) { .ops = ops, .ctx = ctx };
	return 0;
}

const struct core_values *core_values(const struct core *c)
{
	return &c->v;
}

/*
 * Hand @changes to every sink in order. A sink that fails keeps them pending (the state
 * file on a full disk) and gets them again with the next publication or core_flush().
 * At run time the others get the change anyway: clients must reseed even when it cannot
 * be persisted. With @all_or_nothing (start-up) a failing state file stops the rest.
 * Return: the state file's error (the first sink's).
 */
static int publish_changes(struct core *c, unsigned changes, bool all_or_nothing)
{
	int first = 0;

	if (!c->taken_over)
		return 0;
	for (unsigned i = 0; i < c->n_sinks; i++) {
		struct sink *s = &c->sinks[i];
		int r;

		s->pending |= changes;
		if (!s->pending)
			continue;
		r = s->ops->publish(s->ctx, &c->v, s->pending);
		if (r < 0) {
			if (i == 0) {
				first = r;
				if (all_or_nothing) {
					for (unsigned j = 1; j < c->n_sinks; j++)
						c->sinks[j].pending |= changes;
					return r;
				}
			}
			continue;
		}
		s->pending = 0;
	}
	return first;
}

static int publish(struct core *c, unsigned changes)
{
	return publish_changes(c, changes, false);
}

void core_restore(struct core *c, const struct core_values *saved)
{
	c->v.generation = saved->generation;
	c->v.epoch_counter = saved->epoch_counter & 0xffffffu;
	memcpy(c->v.position, saved->position, sizeof(c->v.position));
	memcpy(c->v.boot_id, saved->boot_id, sizeof(c->v.boot_id));
}

void core_floor(struct core *c, uint32_t generation, uint32_t epoch_counter, bool quiesced,
		uint64_t last_raise_ns)
{
	if (generation > c->v.generation)
		c->v.generation = generation;
	if ((epoch_counter & 0xffffffu) > c->v.epoch_counter)
		c->v.epoch_counter = epoch_counter & 0xffffffu;
	c->v.quiesced |= quiesced;
	if (last_raise_ns > c->v.last_raise_ns)
		c->v.last_raise_ns = last_raise_ns;
}

static void bump_epoch(struct core *c, unsigned id)
{
	/* 24 bits are published; the wrap skips nothing a reader could confuse. */
	c->v.epoch_counter = (c->v.epoch_counter + 1) & 0xffffffu;
	c->v.epoch_id = id;
	c->v.last_epoch_ns = now_realtime_ns();
	if (id < _SNAPSAFE_NOTIFIER_MAX)
		c->v.epochs[id]++;
}

int core_take_over(struct core *c)
{
	c->taken_over = true;
	c->v.running = false;
	c->v.live = 0;
	bump_epoch(c, SNAPSAFE_NOTIFIER_NONE);
	return publish_changes(c, CORE_CHANGE_ALL, true);
}

void core_missed(struct core *c, unsigned id, uint32_t min_gen)
{
	if (!c->missed)
		c->missed_id = id;
	c->missed = true;
	if (min_gen > c->missed_min_gen)
		c->missed_min_gen = min_gen;
}

const struct core_position *core_position(const struct core *c, unsigned id)
{
	return id < _SNAPSAFE_NOTIFIER_MAX ? &c->v.position[id] : NULL;
}

void core_set_position(struct core *c, unsigned id, uint64_t value)
{
	struct core_position *p;

	if (id >= _SNAPSAFE_NOTIFIER_MAX)
		return;
	p = &c->v.position[id];
	if (p->have && p->value == value)
		return;
	p->have = true;
	p->value = value;
	/* Written by the next publication or at the end of this batch, not here. */
	c->sinks[0].pending |= CORE_CHANGE_POSITIONS;
}

/*
 * A new generation in the values (or, at UINT32_MAX, a new epoch only); nothing is
 * published yet. Return: 0 or -EOVERFLOW.
 */
static int apply_raise(struct core *c, unsigned id, uint32_t min_gen)
{
	uint32_t gen;

	/* Whatever raises came after the marker changed: the kernel has reseeded since. */
	if (c->marker_pending) {
		c->v.vmclock_settled = c->marker;
		c->marker_pending = false;
	}
	if (c->v.generation == UINT32_MAX) {
		/*
		 * Nothing can tell watchers any more, but the event may still have duplicated
		 * memory: a new epoch at least makes every RNG reseed.
		 */
		log_error("Generation is at its maximum, cannot raise (%s): new epoch only "
			  "(see snapsafed(8), RECOVERY)", protocol_notifier_name(id));
		bump_epoch(c, id);
		return -EOVERFLOW;
	}
	gen = c->v.generation + 1;
	if (min_gen > gen)
		gen = min_gen;
	c->v.generation = gen;
	bump_epoch(c, id);
	c->v.last_raise_ns = c->v.last_epoch_ns;
	c->v.raise_id = id;
	if (id < _SNAPSAFE_NOTIFIER_MAX)
		c->v.raises[id]++;
	if (id == SNAPSAFE_NOTIFIER_SYSGENID || id == SNAPSAFE_NOTIFIER_VMCLOCK) {
		c->last_device_raise_ms = now_monotonic_ms();
		if (c->vm_fork_pending)
			log_info("%s: VM fork already counted by the %s notifier (it raised after the "
				 "report)", protocol_notifier_name(c->vm_fork_pending_id),
				 protocol_notifier_name(id));
	}
	/* Any raise after a reported VM fork tells everyone what that fork needs to. */
	c->vm_fork_pending = false;
	{
		char fgen[32], fnot[40];
		const char *fields[] = { fgen, fnot, NULL };

		snprintf(fgen, sizeof(fgen), "GENERATION=%u", gen);
		snprintf(fnot, sizeof(fnot), "NOTIFIER=%s", protocol_notifier_name(id));
		log_struct(LOG_INFO, LOG_MESSAGE_RAISE, fields, "Generation %u (raised by %s)", gen,
			   protocol_notifier_name(id));
	}
	return 0;
}

/* The raise itself, without the control plane's range rule, published. */
static int raise_generation(struct core *c, unsigned id, uint32_t min_gen)
{
	int r = apply_raise(c, id, min_gen);

	publish(c, r < 0 ? CORE_CHANGE_EPOCH : CORE_CHANGE_GENERATION | CORE_CHANGE_EPOCH);
	return r;
}

int core_raise(struct core *c, unsigned id, uint32_t min_gen)
{
	if (id == SNAPSAFE_NOTIFIER_CONTROL && min_gen > UINT32_MAX - CORE_GENERATION_HEADROOM &&
	    min_gen > c->v.generation)
		return -ERANGE;
	return raise_generation(c, id, min_gen);
}

static const char *live_device_name(const struct core *c)
{
	return protocol_notifier_name(c->v.live & (1ull << SNAPSAFE_NOTIFIER_SYSGENID) ?
				      SNAPSAFE_NOTIFIER_SYSGENID : SNAPSAFE_NOTIFIER_VMCLOCK);
}

/*
 * kmsg and uevent report the VM fork that the kernel's vmgenid driver handles. A kernel
 * /dev/sysgenid counts the same fork (its module is called from that very path, right
 * after the record is logged) and VMClock's counter changes with it before the guest
 * runs, so a live device raises for it, and raising here too would raise twice for one
 * fork, which compat-file clients such as AWS-LC take as two events. But a device that
 * does not count it (withdrawn, broken) must not make us miss a clone: the device gets
 * CORE_VM_FORK_DEFER_MS, either side of the report, to raise.
 */
void core_vm_fork(struct core *c, unsigned id)
{
	uint64_t now = now_monotonic_ms();

	if (!(c->v.live & DEVICE_NOTIFIERS)) {
		raise_generation(c, id, 0);
		return;
	}
	if (c->last_device_raise_ms && now - c->last_device_raise_ms <= CORE_VM_FORK_DEFER_MS) {
		log_info("%s: VM fork already counted by the %s notifier",
			 protocol_notifier_name(id), live_device_name(c));
		return;
	}
	if (c->vm_fork_pending)
		return;
	log_info("%s: VM fork reported; waiting up to %u ms for the %s notifier to count it",
		 protocol_notifier_name(id), (unsigned)CORE_VM_FORK_DEFER_MS, live_device_name(c));
	c->vm_fork_pending = true;
	c->vm_fork_pending_id = id;
	c->vm_fork_deadline_ms = now + CORE_VM_FORK_DEFER_MS;
}

void core_vmclock_found(struct core *c, uint64_t marker)
{
	c->v.vmclock_settled = marker;
	c->marker_pending = false;
}

void core_vmclock_marker(struct core *c, uint64_t marker)
{
	c->marker_pending = true;
	c->marker = marker;
	c->marker_deadline_ms = now_monotonic_ms() + CORE_VM_FORK_DEFER_MS;
}

void core_new_epoch(struct core *c, unsigned id)
{
	bump_epoch(c, id);
	publish(c, CORE_CHANGE_EPOCH);
	log_debug("Epoch %06x (%s)", c->v.epoch_counter, protocol_notifier_name(id));
}

void core_quiesce(struct core *c)
{
	c->v.quiesced = true;
	bump_epoch(c, SNAPSAFE_NOTIFIER_CONTROL);
	publish(c, CORE_CHANGE_EPOCH | CORE_CHANGE_FLAGS);
	log_info("Quiesced at generation %u", c->v.generation);
}

int core_resume(struct core *c)
{
	/* All or nothing: a resume that cannot raise must leave the system quiesced. */
	if (c->v.generation == UINT32_MAX)
		return -EOVERFLOW;
	c->v.quiesced = false;
	/* The flag goes out with the raise: one publication. */
	for (unsigned i = 0; i < c->n_sinks; i++)
		c->sinks[i].pending |= CORE_CHANGE_FLAGS;
	return raise_generation(c, SNAPSAFE_NOTIFIER_CONTROL, 0);
}

void core_set_live(struct core *c, unsigned id, bool live)
{
	uint64_t bit = 1ull << id, old = c->v.live;

	if (live)
		c->v.live |= bit;
	else
		c->v.live &= ~bit;
	if (c->v.live == old || !c->started)
		return;
	{
		char fnot[40], flive[16];
		const char *fields[] = { fnot, flive, NULL };

		snprintf(fnot, sizeof(fnot), "NOTIFIER=%s", protocol_notifier_name(id));
		snprintf(flive, sizeof(flive), "LIVE=%d", live ? 1 : 0);
		log_struct(LOG_NOTICE, LOG_MESSAGE_NOTIFIER, fields, "Notifier %s is %s",
			   protocol_notifier_name(id), live ? "live" : "off");
	}
	bump_epoch(c, id);
	publish(c, CORE_CHANGE_EPOCH | CORE_CHANGE_FLAGS);
	/* The device that was to count a reported VM fork is gone: count it here. */
	if (c->vm_fork_pending && !(c->v.live & DEVICE_NOTIFIERS))
		raise_generation(c, c->vm_fork_pending_id, 0);
}

int core_start(struct core *c)
{
	int r;

	c->started = true;
	c->v.running = true;
	/* At UINT32_MAX the epoch still changes; the start goes on. */
	if (c->missed)
		(void)apply_raise(c, SNAPSAFE_NOTIFIER_STARTUP, c->missed_min_gen);
	else
		bump_epoch(c, SNAPSAFE_NOTIFIER_NONE);
	c->missed = false;
	/* Everything (RUNNING, the live set) in one publication; the state file must take it. */
	r = publish_changes(c, CORE_CHANGE_ALL, true);
	if (r < 0) {
		c->v.running = false;
		c->started = false;
	}
	return r;
}

void core_stop(struct core *c)
{
	if (!c->taken_over)
		return;
	c->v.running = false;
	c->v.live = 0;
	bump_epoch(c, SNAPSAFE_NOTIFIER_NONE);
	publish(c, CORE_CHANGE_EPOCH | CORE_CHANGE_FLAGS);
}

void core_flush(struct core *c)
{
	if (c->vm_fork_pending && now_monotonic_ms() >= c->vm_fork_deadline_ms) {
		log_warning("The %s notifier did not count the VM fork that %s reported within "
			    "%u ms: raising", live_device_name(c),
			    protocol_notifier_name(c->vm_fork_pending_id),
			    (unsigned)CORE_VM_FORK_DEFER_MS);
		raise_generation(c, c->vm_fork_pending_id, 0);
	}
	if (c->marker_pending && now_monotonic_ms() >= c->marker_deadline_ms) {
		log_info("vmclock: no raise within %u ms of the disruption marker's change (a "
			 "migration): settled", (unsigned)CORE_VM_FORK_DEFER_MS);
		c->v.vmclock_settled = c->marker;
		c->marker_pending = false;
		bump_epoch(c, SNAPSAFE_NOTIFIER_VMCLOCK);
		publish(c, CORE_CHANGE_EPOCH);
	}
	publish(c, 0);
}

static int ms_until(uint64_t now, uint64_t deadline)
{
	return now >= deadline ? 0 : (int)(deadline - now);
}

int core_timeout_ms(const struct core *c)
{
	uint64_t now = now_monotonic_ms();
	int t = -1;

	if (c->vm_fork_pending)
		t = ms_until(now, c->vm_fork_deadline_ms);
	if (c->marker_pending && (t < 0 || ms_until(now, c->marker_deadline_ms) < t))
		t = ms_until(now, c->marker_deadline_ms);
	return t;
}
