/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine policy: SNAPSAFE_ENGINE=auto|always|never and what the sources say. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sources.h"
#include "state.h"

static enum engine_mode mode = ENGINE_AUTO;
static bool mode_forced;
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;

static void mode_init(void)
{
	const char *e;

	if (mode_forced)
		return;
	e = secure_getenv("SNAPSAFE_ENGINE");
	if (!e || !*e || strcmp(e, "auto") == 0)
		mode = ENGINE_AUTO;
	else if (strcmp(e, "always") == 0)
		mode = ENGINE_ALWAYS;
	else
		mode = ENGINE_NEVER;	/* "never", and anything unknown: the safe choice */
}

enum engine_mode policy_mode(void)
{
	pthread_once(&mode_once, mode_init);
	return mode;
}

void policy_force_mode(enum engine_mode m)
{
	mode = m;
	mode_forced = true;
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
	if (gen_sources.vmclock || gen_sources.sysgenid)
		return true;
	return (flags & SNAPSAFE_PAGE_RUNNING) && (live & SNAPSAFE_NOTIFIERS_COVER_VM);
}
