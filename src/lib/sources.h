/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generation sources: the words whose change means "memory may have been
 * duplicated, or a reseed was asked for". The daemon's page (generation and epoch
 * in one u64), /dev/vmclock0's seqlock count (the host moves it whenever it writes the
 * disruption marker, the counter or the flags), a kernel /dev/sysgenid page. The engine records every
 * word when it seeds and compares them before and after each request. A new kind
 * of source is a new entry in the table, not a change of the hot path. Fork is not
 * a source: fork wipes the state memory instead.
 */
#ifndef SNAPSAFE_LIB_SOURCES_H
#define SNAPSAFE_LIB_SOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include "page.h"
#include "vmclock.h"

enum {
	/* page, VMClock, sysgenid, and room for a child forked mid-probe */
	SOURCES_MAX = 8,
};

struct gen_sources {
	unsigned int count;				/* published with release order */
	const volatile uint64_t *word[SOURCES_MAX];
	const struct snapsafe_page *page;		/* the daemon's page, or NULL */
	const struct vmclock_map *vmclock;	/* its seqlock count is a word, or NULL */
	bool sysgenid;				/* a kernel /dev/sysgenid is a word */
};

extern struct gen_sources gen_sources;

/*
 * sources_init() - map every available source, once per process, without waiting.
 * Return: true once done; false while another thread (or the call a signal handler
 * interrupted) maps them: the caller serves from the kernel this time.
 */
bool sources_init(void);

/* After sources_init(): look again for a daemon page that appeared (at most once a second). */
void sources_reprobe(void);

/* The daemon page, mapped on demand (for snapsafe_generation()); NULL when absent. */
const struct snapsafe_page *sources_page(void);

static inline void sources_snapshot(uint64_t seen[SOURCES_MAX])
{
	unsigned int n = __atomic_load_n(&gen_sources.count, __ATOMIC_ACQUIRE);

	for (unsigned int i = 0; i < n; i++)
		seen[i] = __atomic_load_n(gen_sources.word[i], __ATOMIC_ACQUIRE);
	for (unsigned int i = n; i < SOURCES_MAX; i++)
		seen[i] = 0;
}

/* The hot-path check: one acquire load per live source, one to three. */
static inline bool sources_unchanged(const uint64_t seen[SOURCES_MAX])
{
	unsigned int n = __atomic_load_n(&gen_sources.count, __ATOMIC_ACQUIRE);

	for (unsigned int i = 0; i < n; i++)
		if (__atomic_load_n(gen_sources.word[i], __ATOMIC_ACQUIRE) != seen[i])
			return false;
	return true;
}

#endif
