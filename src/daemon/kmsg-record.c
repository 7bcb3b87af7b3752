/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /dev/kmsg record parsing (see kmsg-record.h). */
#include <errno.h>
#include <string.h>

#include "kmsg-record.h"
#include "parse-number.h"

/* random.c: pr_notice("crng reseeded due to virtual machine fork\n") under pr_fmt "random: ". */
#define VMFORK_TEXT "random: crng reseeded due to virtual machine fork"

int kmsg_record_parse(const char *line, size_t len, struct kmsg_record *ret)
{
	const char *semi, *p, *end;
	uint64_t f[3];

	semi = memchr(line, ';', len);
	if (!semi)
		return -EBADMSG;
	/* The prefix: "pri,seq,ts,flags" and possibly more comma-separated fields. */
	p = line;
	for (unsigned i = 0; i < 3; i++) {
		end = p;
		while (end < semi && *end != ',')
			end++;
		if (parse_uint(p, (size_t)(end - p), 10, i == 0 ? UINT32_MAX : UINT64_MAX,
			       &f[i]) < 0)
			return -EBADMSG;
		if (end == semi)
			return -EBADMSG;	/* the flags field is required */
		p = end + 1;
	}
	*ret = (struct kmsg_record) {
		.priority = (unsigned)f[0],
		.seq = f[1],
		.ts_usec = f[2],
		.text = semi + 1,
		.text_len = len - (size_t)(semi + 1 - line),
	};
	return 0;
}

bool kmsg_record_is_vmfork(const struct kmsg_record *r)
{
	/* Facility 0 is the kernel: a process writing to /dev/kmsg never gets it. */
	if ((r->priority >> 3) != 0)
		return false;
	/*
	 * The whole text, not a part of it: kernel records also quote what processes chose
	 * (an audit or AppArmor record with a file name, a file system message with a label),
	 * and such a record would carry facility 0 around a forged VM-fork text.
	 */
	return r->text_len == sizeof(VMFORK_TEXT) - 1 &&
	       memcmp(r->text, VMFORK_TEXT, sizeof(VMFORK_TEXT) - 1) == 0;
}
