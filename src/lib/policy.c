/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine policy: SNAPSAFE_ENGINE=auto|always|never and what the sources say. No lock:
 * the mode is worked out from the environment by whoever asks first (every thread finds the
 * same), so a signal handler can ask too.
 */
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sources.h"
#include "state.h"

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

bool policy_engine_allowed(void)
{
	enum engine_mode m = policy_mode();
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
	if (m == ENGINE_ALWAYS)
		return true;
	/*
	 * VMClock only while the host says its counter is there: a withdrawn counter never
	 * changes again, and later clones would share this state. The flags are one of the
	 * source words, so their change brought us here.
	 */
	if (sources_vmclock_live() || __atomic_load_n(&gen_sources.sysgenid, __ATOMIC_ACQUIRE))
		return true;
	return (flags & SNAPSAFE_PAGE_RUNNING) && (live & SNAPSAFE_NOTIFIERS_COVER_VM);
}
