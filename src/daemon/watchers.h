/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The watcher registry: every connection that sent WATCH, with the generation it last
 * acknowledged (docs/protocol.md, "Watchers"). The counts the protocol reports (watchers,
 * outdated watchers, outdated watchers of a process) are derived from the registry when
 * asked, never kept by hand, so no code path can let them drift.
 */
#ifndef SNAPSAFE_DAEMON_WATCHERS_H
#define SNAPSAFE_DAEMON_WATCHERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct watcher {
	struct watcher *prev, *next;
	bool registered;
	pid_t pid;		/* the process that connected */
	uid_t uid;
	uint32_t acked;		/* the generation it last acknowledged */
	uint64_t outdated_since_ms;	/* CLOCK_MONOTONIC of the raise it missed first; 0: none */
	char comm[16];		/* its process name when it registered (for operators) */
};

struct watchers {
	struct watcher *head;
};

/* watchers_add() - register @w; a new watcher starts acknowledged at @generation. */
void watchers_add(struct watchers *ws, struct watcher *w, pid_t pid, uid_t uid,
		  uint32_t generation, const char *comm);
/* watchers_raised() - a raise at @now: every watcher not yet outdated is from now on. */
void watchers_raised(struct watchers *ws, uint64_t now);
/* watcher_ack() - @w acknowledged @generation. */
void watcher_ack(struct watcher *w, uint32_t generation);

/* watchers_remove() - unregister @w; a no-op for one that never registered. */
void watchers_remove(struct watchers *ws, struct watcher *w);

static inline bool watcher_outdated(const struct watcher *w, uint32_t generation)
{
	return w->registered && w->acked != generation;
}

unsigned watchers_count(const struct watchers *ws);
unsigned watchers_outdated(const struct watchers *ws, uint32_t generation);
/* watchers_pid_outdated() - does process @pid hold an outdated watcher? */
bool watchers_pid_outdated(const struct watchers *ws, pid_t pid, uint32_t generation);

/*
 * watchers_format_outdated_pids() - "1234 5678" into @buf: the pids of the outdated
 * watchers, each once, ending in " ..." when they do not all fit.
 */
void watchers_format_outdated_pids(const struct watchers *ws, uint32_t generation, char *buf,
				   size_t size);

#endif
