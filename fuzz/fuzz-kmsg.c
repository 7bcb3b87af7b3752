/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the /dev/kmsg record parser of the vmfork-kmsg notifier
 * (kmsg_record_parse() and kmsg_record_is_vmfork() in src/daemon/kmsg-record.c). The
 * input is a piece of /dev/kmsg as a FIFO given to --kmsg-path delivers it: records, one per
 * line, "pri,seq,ts,flags[,...];text", and dictionary continuation lines (" KEY=value").
 *
 * The parser is checked against a second, deliberately plain reading of the same grammar
 * (split on ';' and ',', strtoull), and what makes the notifier safe is checked on every
 * record: a VM-fork record is facility 0 (the kernel) with exactly the text random.c logs,
 * never a kernel record that quotes it among other words, and never the same line with a
 * user facility, which is what a process writing to /dev/kmsg gets. Parsed text and
 * lengths stay inside the line.
 */
#include <errno.h>
#include <stdbool.h>

#include "kmsg-record.h"
#include "fuzz.h"

/*
 * The kernel's record (drivers/char/random.c, add_vmfork_randomness(), with its pr_fmt),
 * kept apart from the daemon's copy so that a typo there is a failure here.
 */
#define KERNEL_VMFORK_TEXT "random: crng reseeded due to virtual machine fork"

/*
 * Set with memset in an output struct and in a reference copy before a call (an assignment
 * need not copy padding), to see that a failure left the struct alone.
 */
#define POISON 0xa5

/*
 * Facilities a process writing to /dev/kmsg ends up with: LOG_USER (for no facility or 0),
 * LOG_DAEMON, LOG_LOCAL7, and 127, the largest that the kernel's LOG_FACMASK lets through.
 */
static const unsigned user_facilities[] = { 1, 3, 23, 127 };

/*
 * The grammar read the plain way: a ';' ends the prefix, the prefix has at least four
 * comma-separated fields (priority, sequence, timestamp, flags, maybe more), the first
 * three are numbers and the priority fits in 32 bits.
 */
static bool plain_parse(const char *line, size_t len, uint64_t f[3], size_t *ret_text_off)
{
	const char *semi = memchr(line, ';', len);
	const char *p = line;
	size_t fields = 0;

	if (!semi)
		return false;
	for (;;) {
		const char *c = memchr(p, ',', (size_t)(semi - p));
		const char *e = c ? c : semi;

		if (fields < 3 && !fuzz_plain_u64(p, (size_t)(e - p), &f[fields]))
			return false;
		fields++;
		if (!c)
			break;
		p = c + 1;
	}
	if (fields < 4 || f[0] > UINT32_MAX)
		return false;
	*ret_text_off = (size_t)(semi - line) + 1;
	return true;
}

/* The line with its priority field replaced by @pri; NULL when it has no ',' to keep. */
static char *with_priority(const char *line, size_t len, unsigned pri, size_t *ret_len)
{
	const char *c = memchr(line, ',', len);
	char head[16];
	size_t hlen, rest;
	char *b;

	if (!c)
		return NULL;
	hlen = (size_t)snprintf(head, sizeof(head), "%u", pri);
	rest = len - (size_t)(c - line);
	b = malloc(hlen + rest);
	if (!b)
		abort();
	memcpy(b, head, hlen);
	memcpy(b + hlen, c, rest);
	*ret_len = hlen + rest;
	return b;
}

static void check_record(const char *line, size_t len)
{
	struct kmsg_record rec, untouched, forged;
	uint64_t f[3];
	size_t text_off = 0, flen;
	bool want, vmfork;
	char *fline;
	int r;

	memset(&rec, POISON, sizeof(rec));
	memset(&untouched, POISON, sizeof(untouched));
	r = kmsg_record_parse(line, len, &rec);
	want = plain_parse(line, len, f, &text_off);
	fuzz_assert(r == 0 || r == -EBADMSG);
	fuzz_assert((r == 0) == want);
	/* A dictionary line (" KEY=value") can never pass as a record, whatever it holds. */
	if (len > 0 && line[0] == ' ')
		fuzz_assert(r < 0);
	if (r < 0) {
		fuzz_assert(memcmp(&rec, &untouched, sizeof(rec)) == 0);
		return;
	}

	fuzz_assert(rec.priority == f[0] && rec.seq == f[1] && rec.ts_usec == f[2]);
	fuzz_assert(rec.text == line + text_off);
	fuzz_assert(text_off <= len && rec.text_len == len - text_off);

	/* The whole text: kernel records quote file names and labels that processes choose. */
	vmfork = kmsg_record_is_vmfork(&rec);
	fuzz_assert(vmfork == ((rec.priority >> 3) == 0 &&
			       rec.text_len == sizeof(KERNEL_VMFORK_TEXT) - 1 &&
			       memcmp(rec.text, KERNEL_VMFORK_TEXT, rec.text_len) == 0));

	/*
	 * What a process gets when it writes this very line to /dev/kmsg: some non-zero
	 * facility. Whatever the text, that record must not raise the generation.
	 */
	for (size_t i = 0; i < sizeof(user_facilities) / sizeof(user_facilities[0]); i++) {
		unsigned pri = user_facilities[i] << 3 | (rec.priority & 7);

		fline = with_priority(line, len, pri, &flen);
		fuzz_assert(fline);
		fuzz_assert(kmsg_record_parse(fline, flen, &forged) == 0);
		fuzz_assert(forged.seq == rec.seq && forged.text_len == rec.text_len);
		fuzz_assert(memcmp(forged.text, rec.text, rec.text_len) == 0);
		fuzz_assert(!kmsg_record_is_vmfork(&forged));
		free(fline);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_for_each_line(data, size, check_record);
	return 0;
}
