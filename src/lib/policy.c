/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine policy: SNAPSAFE_ENGINE=auto|always|never and what the sources say. No lock:
 * the mode is worked out from the environment by whoever asks first (every thread finds the
 * same), so a signal handler can ask too.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "policy.h"
#include "sources.h"
#include "state.h"
#include "vmclock.h"

/* 0 until known, else the mode + 1. */
static unsigned int mode_word;

static enum engine_mode mode_from_env(void)
{
	const char *e = secure_getenv("SNAPSAFE_ENGINE");

	if (!e || !*e || strcmp(e, "auto") == 0)
		return ENGINE_AUTO;
	if (strcmp(e, "always") == 0)
		return ENGINE_ALWAYS;
	return ENGINE_NEVER;	/* "never", and anything unknown: the safe choice */
}

enum engine_mode policy_mode(void)
{
	unsigned int w = __atomic_load_n(&mode_word, __ATOMIC_RELAXED);

	if (__builtin_expect(w == 0, 0)) {
		w = (unsigned int)mode_from_env() + 1;
		__atomic_store_n(&mode_word, w, __ATOMIC_RELAXED);
	}
	return (enum engine_mode)(w - 1);
}

void policy_force_mode(enum engine_mode m)
{
	__atomic_store_n(&mode_word, (unsigned int)m + 1, __ATOMIC_RELAXED);
}

const char *policy_mode_name(enum engine_mode m)
{
	switch (m) {
	case ENGINE_ALWAYS:
		return "always";
	case ENGINE_NEVER:
		return "never";
	default:
		return "auto";
	}
}

/*
 * The VMClock hold, for CPUs without a hardware random input. The page shows a restore
 * before the guest runs again, but until the guest kernel handles the vmgenid notification,
 * getrandom() answers the same in every clone of the snapshot: a reseed from it alone may
 * repeat across clones. So while the disruption marker is one the daemon has not settled
 * (its page's vmclock_settled: it saw a raise after the marker changed, or 2 s without one,
 * a migration), the engine waits and the kernel serves. The daemon's word is about the
 * marker itself, so a process that was idle across the restore and the raise is served at
 * once, and one that last seeded before an old raise is not fooled by it.
 *
 * Without that word (no daemon, a stopped one, an older one whose page ends before it, or
 * one that does not know the marker: 0), the hold begins at a change of the page and lasts
 * until the daemon's generation rises, or for as long as there is no daemon.
 *
 * One process-wide baseline of the page's words, updated under a claim (guard.h): a caller
 * that finds it taken serves from the kernel this time.
 *
 * A test build (SNAPSAFE_TEST_NO_VMCLOCK_HOLD, with SNAPSAFE_TEST_NO_HWRNG) compiles the hold
 * out: the VM clone tests' negative control, to show that a reseed from getrandom() alone
 * right after a restore repeats across clones. No run-time switch exists.
 */
#ifndef SNAPSAFE_TEST_NO_VMCLOCK_HOLD
enum { HOLD = 1u << 0 };

static unsigned int vm_claim;
static bool vm_known_set;
static struct vmclock_reading vm_known;	/* the page when the engine last trusted it */
static unsigned int vm_hold;		/* HOLD while waiting */
static uint32_t vm_hold_generation;	/* the daemon's generation when the hold began */

static bool same_reading(const struct vmclock_reading *a, const struct vmclock_reading *b)
{
	return a->marker == b->marker && a->flags == b->flags && a->generation == b->generation;
}

/* The marker that a running daemon says is settled; false when the page cannot say. */
static bool page_settled(const struct snapsafe_page *page, uint64_t *ret_marker)
{
	uint64_t m;

	if (!page ||
	    __atomic_load_n(&page->header_size, __ATOMIC_RELAXED) <
		    offsetof(struct snapsafe_page, vmclock_settled) + sizeof(page->vmclock_settled) ||
	    !(__atomic_load_n(&page->flags, __ATOMIC_ACQUIRE) & SNAPSAFE_PAGE_RUNNING))
		return false;
	m = __atomic_load_n(&page->vmclock_settled, __ATOMIC_ACQUIRE);
	if (m == 0)
		return false;
	*ret_marker = m;
	return true;
}

/* Return: true while the engine must wait; updates the baseline when it need not. */
static bool vmclock_held(const struct vmclock_map *vm, const struct snapsafe_page *page,
			 bool hw_mixed)
{
	struct vmclock_reading now;
	uint64_t settled;
	uint32_t gen;
	bool held = false;

	if (vmclock_read(vm, &now) < 0 || !claim_try(&vm_claim))
		return !hw_mixed;
	gen = page ? __atomic_load_n(&page->generation, __ATOMIC_ACQUIRE) : 0;
	if (hw_mixed) {
		/* A per-clone input in this seed: the page as it is now. */
		vm_known = now;
		vm_known_set = true;
		vm_hold = 0;
	} else if (page_settled(page, &settled)) {
		held = settled != now.marker;
		if (!held) {
			vm_known = now;
			vm_known_set = true;
			vm_hold = 0;
		} else if (!vm_hold) {
			/* For the rule below, should the daemon stop before it settles. */
			vm_known = now;
			vm_known_set = true;
			vm_hold = HOLD;
			vm_hold_generation = gen;
		}
	} else if (!vm_known_set) {
		/* A fresh process: the page as it is now. */
		vm_known = now;
		vm_known_set = true;
		vm_hold = 0;
	} else if (vm_hold || !same_reading(&now, &vm_known)) {
		if (!vm_hold) {
			vm_hold = HOLD;
			vm_hold_generation = gen;
			held = true;
		} else if (page && gen != vm_hold_generation) {
			vm_known = now;
			vm_hold = 0;
		} else {
			held = true;
		}
	}
	claim_drop(&vm_claim);
	return held;
}
#else
static bool vmclock_held(const struct vmclock_map *vm, const struct snapsafe_page *page,
			 bool hw_mixed)
{
	(void)vm;
	(void)page;
	(void)hw_mixed;
	return false;
}
#endif

bool policy_engine_allowed(bool hw_mixed)
{
	enum engine_mode m = policy_mode();
	const struct vmclock_map *vm;
	const struct snapsafe_page *page;
	uint32_t flags = 0;
	uint64_t live = 0;

	if (m == ENGINE_NEVER || !state_pool_wipes_on_fork())
		return false;
	sources_reprobe();
	page = __atomic_load_n(&gen_sources.page, __ATOMIC_ACQUIRE);
	if (page) {
		flags = __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE);
		live = __atomic_load_n(&page->live_notifiers, __ATOMIC_ACQUIRE);
	}
	/* A snapshot in progress: nothing in userspace may serve until resume. */
	if (flags & SNAPSAFE_PAGE_QUIESCED)
		return false;
	vm = __atomic_load_n(&gen_sources.vmclock, __ATOMIC_ACQUIRE);
	if (vm && vmclock_held(vm, page, hw_mixed))
		return false;
	if (m == ENGINE_ALWAYS)
		return true;
	/*
	 * VMClock's disruption marker changes on every restore, before the guest runs again:
	 * the engine sees every clone itself (its words are sources). So does a kernel
	 * /dev/sysgenid.
	 */
	if (vm || __atomic_load_n(&gen_sources.sysgenid, __ATOMIC_ACQUIRE))
		return true;
	return (flags & SNAPSAFE_PAGE_RUNNING) && (live & SNAPSAFE_NOTIFIERS_COVER_VM);
}
