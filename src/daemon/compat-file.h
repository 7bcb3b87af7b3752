/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --sysgenid-compat PATH, the third sink: the generation as a /dev/sysgenid look-alike for
 * clients that map 4 bytes at offset 0 of that path (AWS-LC). Such clients keep the
 * mapping for the life of the process and abort if the value changes during a call, so
 * the file is created complete once (0644, one page) and after that only ever updated in
 * place with one aligned 4-byte store, once per raise. Its value is a floor for the
 * generation, and it is locked: one daemon per compat file. A character device at PATH is
 * a real kernel /dev/sysgenid and is left alone.
 */
#ifndef SNAPSAFE_DAEMON_COMPAT_FILE_H
#define SNAPSAFE_DAEMON_COMPAT_FILE_H

#include "core.h"

struct compat_file;

/*
 * compat_file_open() - open or create @path for @generation, lock it, map it.
 * Return: 1 with *@ret set; 0 when @path is a kernel device (nothing to publish);
 * a negative errno (logged) when it cannot be used, which stops start-up.
 */
int compat_file_open(const char *path, uint32_t generation, struct compat_file **ret);
struct compat_file *compat_file_close(struct compat_file *c);

/* compat_file_restore() - the value in the file, as a floor for the generation. */
void compat_file_restore(const struct compat_file *c, struct core *core);

extern const struct sink_ops compat_file_sink;

#endif
