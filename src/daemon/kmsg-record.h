/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /dev/kmsg records: the parser and the VM-fork test the vmfork-kmsg notifier runs on every
 * record the kernel logs. Pure functions, fuzzed (fuzz/fuzz-kmsg.c).
 */
#ifndef SNAPSAFE_DAEMON_KMSG_RECORD_H
#define SNAPSAFE_DAEMON_KMSG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmsg_record {
	unsigned priority;	/* facility << 3 | level */
	uint64_t seq;
	uint64_t ts_usec;
	const char *text;	/* points into the line */
	size_t text_len;
};

/* kmsg_record_parse() - one "pri,seq,ts,flags[,...];text" line without its '\n'. */
int kmsg_record_parse(const char *line, size_t len, struct kmsg_record *ret);

/* kmsg_record_is_vmfork() - facility 0 (kernel) and exactly the crng VM-fork text. */
bool kmsg_record_is_vmfork(const struct kmsg_record *r);

#endif
