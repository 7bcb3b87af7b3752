/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A thread blocked in snapsafe_watcher_read(), for the tests that raise (or kill the
 * daemon) while a reader waits: pthread_create(&t, NULL, read_thread, &reader), then
 * pthread_join() and look at reader.r and reader.gen. Header only.
 */
#ifndef SNAPSAFE_TEST_READER_THREAD_H
#define SNAPSAFE_TEST_READER_THREAD_H

#include <stdint.h>

#include <snapsafe/snapsafe.h>

struct reader {
	struct snapsafe_watcher *w;
	int r;
	uint32_t gen;
};

static inline void *read_thread(void *arg)
{
	struct reader *rd = arg;

	rd->r = snapsafe_watcher_read(rd->w, &rd->gen);
	return NULL;
}

#endif
