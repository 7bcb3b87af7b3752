/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generation page file (docs/page.md), the second sink. Created complete once with
 * mode 0644; after that it is never truncated, renamed or recreated, because every client
 * keeps its MAP_SHARED mapping across daemon restarts and must keep seeing the values
 * this daemon writes. An exclusive lock on it makes one daemon per runtime directory.
 */
#ifndef SNAPSAFE_DAEMON_PAGE_FILE_H
#define SNAPSAFE_DAEMON_PAGE_FILE_H

#include "core.h"

struct page_file;

/*
 * page_file_open() - open (or create) and lock the page at @path, and map it.
 * Return: 0, -EBUSY when another daemon holds it, or another negative errno (logged).
 */
int page_file_open(const char *path, struct page_file **ret);
struct page_file *page_file_close(struct page_file *p);

/*
 * page_file_restore() - what the page remembers, as a floor for the core (a reader may
 * have seen it): nothing when the page is new.
 */
void page_file_restore(const struct page_file *p, struct core *c);

/*
 * page_file_abandon() - tell readers no daemon runs (RUNNING and the live set cleared, a
 * new epoch), straight in the mapping: async-signal-safe, for a fatal signal before the
 * process dies, and right after start-up took the page from a predecessor.
 */
void page_file_abandon(void);

extern const struct sink_ops page_file_sink;

#endif
