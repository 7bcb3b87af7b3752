/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher registry (see watchers.h). A list: at most a few thousand entries. */
#include <stdio.h>
#include <string.h>

#include "watchers.h"

void watchers_add(struct watchers *ws, struct watcher *w, pid_t pid, uid_t uid,
		  uint32_t generation, const char *comm)
{
	*w = (struct watcher) {
		.next = ws->head, .registered = true, .pid = pid, .uid = uid, .acked = generation,
	};
	snprintf(w->comm, sizeof(w->comm), "%s", comm);
	if (ws->head)
		ws->head->prev = w;
	ws->head = w;
}

void watchers_remove(struct watchers *ws, struct watcher *w)
{
	if (!w->registered)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		ws->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	*w = (struct watcher) {};
}

void watchers_raised(struct watchers *ws, uint64_t now)
{
	for (struct watcher *w = ws->head; w; w = w->next)
		if (!w->outdated_since_ms)
			w->outdated_since_ms = now ? now : 1;
}

void watcher_ack(struct watcher *w, uint32_t generation)
{
	w->acked = generation;
	w->outdated_since_ms = 0;
}

unsigned watchers_count(const struct watchers *ws)
{
	unsigned n = 0;

	for (const struct watcher *w = ws->head; w; w = w->next)
		n++;
	return n;
}

unsigned watchers_outdated(const struct watchers *ws, uint32_t generation)
{
	unsigned n = 0;

	for (const struct watcher *w = ws->head; w; w = w->next)
		n += watcher_outdated(w, generation);
	return n;
}

bool watchers_pid_outdated(const struct watchers *ws, pid_t pid, uint32_t generation)
{
	if (pid <= 0)
		return false;
	for (const struct watcher *w = ws->head; w; w = w->next)
		if (w->pid == pid && watcher_outdated(w, generation))
			return true;
	return false;
}

/* Was @pid already listed by an outdated watcher before @upto? */
static bool listed_before(const struct watchers *ws, const struct watcher *upto, pid_t pid,
			  uint32_t generation)
{
	for (const struct watcher *w = ws->head; w && w != upto; w = w->next)
		if (w->pid == pid && watcher_outdated(w, generation))
			return true;
	return false;
}

void watchers_format_outdated_pids(const struct watchers *ws, uint32_t generation, char *buf,
				   size_t size)
{
	static const char more[] = " ...";
	size_t off = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (const struct watcher *w = ws->head; w; w = w->next) {
		char one[24];
		int n;

		if (!watcher_outdated(w, generation) || listed_before(ws, w, w->pid, generation))
			continue;
		n = snprintf(one, sizeof(one), "%s%d", off ? " " : "", (int)w->pid);
		if (n < 0 || off + (size_t)n + sizeof(more) > size) {
			if (off + sizeof(more) <= size)
				memcpy(buf + off, more, sizeof(more));
			return;
		}
		memcpy(buf + off, one, (size_t)n + 1);
		off += (size_t)n;
	}
}
