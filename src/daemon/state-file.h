/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state file, the first sink: what snapsafed must remember across a restart or kill -9
 * so that the generation never decreases and no notifier event is lost or replayed
 * (docs/daemon.md, "Persistence"). A small key=value text file in the runtime directory,
 * replaced atomically, so a kill at any point leaves the old or the new state.
 */
#ifndef SNAPSAFE_DAEMON_STATE_FILE_H
#define SNAPSAFE_DAEMON_STATE_FILE_H

#include "core.h"

struct state_file;

int state_file_new(const char *path, struct state_file **ret);
struct state_file *state_file_free(struct state_file *f);

/*
 * state_file_load() - read the file into @ret (generation, epoch counter, boot id,
 * notifier positions). A missing file is a first start: @ret stays zero, return 0.
 * A damaged value is ignored (the page still holds the generation). A file that is not
 * ours (a FIFO, a symlink, another owner, too large) is an error: start-up stops.
 */
int state_file_load(struct state_file *f, struct core_values *ret);

/* state_file_parse() - the parser behind state_file_load(), for tests and fuzzing. */
void state_file_parse(const char *text, struct core_values *ret);

/* state_read_boot_id() - this boot's id, NUL-terminated. */
int state_read_boot_id(char *buf, size_t size);

extern const struct sink_ops state_file_sink;

#endif
