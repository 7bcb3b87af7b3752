/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the control protocol parsers of src/shared/protocol.c: the request parser the
 * daemon runs on every line a client sends, and the reply-line and STATUS parsers the
 * library and snapsafectl run on what comes back. The input is split into lines as the
 * daemon splits a client's stream, and every line goes through every parser (a seed file
 * is readable text: one request or reply per line).
 *
 * Besides "no crash, no overread", it checks what docs/protocol.md promises: the error a
 * bad line gets follows from the line alone (E2BIG by length, EPROTO by a non-printable
 * byte), an accepted request is the request name and at most one decimal number that
 * re-formats and parses back to the same request, the output struct is left alone on
 * failure, a parsed reply points only into its line, and a parsed STATUS formats, fits in a
 * reply buffer and parses back to the same values.
 */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "page.h"
#include "protocol.h"

/*
 * Set with memset in an output struct and in a reference copy before a call (an assignment
 * need not copy padding), to see that a failure left the struct alone.
 */
#define POISON 0xa5

/* Does @s (@len digits, no sign) spell @v in decimal, any number of leading zeros allowed? */
static bool decimal_equals(const char *s, size_t len, uint64_t v)
{
	char want[24];
	size_t z = 0;
	int n = snprintf(want, sizeof(want), "%" PRIu64, v);

	while (z + 1 < len && s[z] == '0')
		z++;
	return (size_t)n == len - z && memcmp(s + z, want, (size_t)n) == 0;
}

static void check_request(const char *line, size_t len)
{
	struct protocol_request req, untouched, again;
	const char *name;
	size_t n = len, nlen;
	bool printable = true;
	char buf[PROTOCOL_LINE_MAX + 16];
	int r;

	memset(&req, POISON, sizeof(req));
	memset(&untouched, POISON, sizeof(untouched));
	r = protocol_request_parse(line, len, &req);

	if (len + 1 > PROTOCOL_LINE_MAX) {
		fuzz_assert(r == -E2BIG);
		fuzz_assert(memcmp(&req, &untouched, sizeof(req)) == 0);
		return;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			printable = false;
	/* Framing errors close the connection: they must come from the bytes, never the words. */
	fuzz_assert((r == -EPROTO) == !printable);
	fuzz_assert(r == 0 || r == -EPROTO || r == -EINVAL);
	if (r < 0) {
		fuzz_assert(memcmp(&req, &untouched, sizeof(req)) == 0);
		return;
	}

	fuzz_assert((unsigned)req.type < _PROTOCOL_REQUEST_MAX);
	name = protocol_request_name(req.type);
	fuzz_assert(name);
	nlen = strlen(name);
	fuzz_assert(n >= nlen && memcmp(line, name, nlen) == 0);
	if (n == nlen) {
		fuzz_assert(req.arg == 0);
		snprintf(buf, sizeof(buf), "%s", name);
	} else {
		/*
		 * "NAME <digits>": exactly one space, then a number that fits in 32 bits, in at
		 * most 20 digits (parse-number.h: more are malformed, not large).
		 */
		fuzz_assert(line[nlen] == ' ');
		for (size_t i = nlen + 1; i < n; i++)
			fuzz_assert(line[i] >= '0' && line[i] <= '9');
		fuzz_assert(decimal_equals(line + nlen + 1, n - nlen - 1, req.arg));
		snprintf(buf, sizeof(buf), "%s %" PRIu32, name, req.arg);
	}
	/* What a client library would send for this request means the same request. */
	fuzz_assert(protocol_request_parse(buf, strlen(buf), &again) == 0);
	fuzz_assert(again.type == req.type && again.arg == req.arg);
}

static void check_status(const char *words, size_t len)
{
	const uint64_t listed = ((1ull << _SNAPSAFE_NOTIFIER_MAX) - 1) & ~1ull;	/* not "none" */
	struct protocol_status st, untouched, again;
	struct protocol_line l;
	char buf[PROTOCOL_REPLY_MAX];
	int r, n;

	memset(&st, POISON, sizeof(st));
	memset(&untouched, POISON, sizeof(untouched));
	r = protocol_status_parse(words, len, &st);
	fuzz_assert(r == 0 || r == -EPROTO);
	if (r < 0) {
		fuzz_assert(memcmp(&st, &untouched, sizeof(st)) == 0);
		return;
	}
	fuzz_assert(st.epoch_notifier < _SNAPSAFE_NOTIFIER_MAX);
	fuzz_assert((st.notifiers_known >> _SNAPSAFE_NOTIFIER_MAX) == 0);
	fuzz_assert((st.notifiers_live & ~st.notifiers_known) == 0);

	/* Any STATUS a client can parse, the daemon's formatter fits into one reply buffer. */
	n = protocol_status_format(buf, sizeof(buf), &st);
	fuzz_assert(n > 0 && (size_t)n == strlen(buf) && buf[n - 1] == '\n');
	fuzz_assert(protocol_line_parse(buf, (size_t)n - 1, &l) == 0 && l.kind == PROTOCOL_LINE_OK);
	fuzz_assert(protocol_status_parse(l.words, l.words_len, &again) == 0);
	fuzz_assert(again.version == st.version && again.generation == st.generation);
	fuzz_assert(again.epoch == st.epoch && again.epoch_notifier == st.epoch_notifier);
	fuzz_assert(again.watchers == st.watchers && again.outdated == st.outdated);
	fuzz_assert(again.quiesced == st.quiesced && again.last_raise_ns == st.last_raise_ns);
	fuzz_assert(again.notifiers_known == listed);
	fuzz_assert(again.notifiers_live == (st.notifiers_live & listed));
}

/* What snapsafectl watchers and metrics do with the words of an OK: parse, format, again. */
static void check_watchers_and_metrics(const char *words, size_t len)
{
	struct protocol_watchers ws, wagain;
	struct protocol_metrics m, magain;
	struct protocol_line l;
	char buf[PROTOCOL_REPLY_MAX];
	unsigned used;
	int n;

	if (protocol_watchers_parse(words, len, &ws) == 0) {
		fuzz_assert(ws.count <= PROTOCOL_WATCHERS_PAGE_MAX);
		n = protocol_watchers_format(buf, sizeof(buf), ws.total, 0, ws.w, ws.count, &used);
		fuzz_assert(n > 0 && buf[n - 1] == '\n' && used <= ws.count);
		fuzz_assert(protocol_line_parse(buf, (size_t)n - 1, &l) == 0);
		fuzz_assert(protocol_watchers_parse(l.words, l.words_len, &wagain) == 0);
		fuzz_assert(wagain.total == ws.total && wagain.next == used && wagain.count == used);
		for (unsigned i = 0; i < used; i++)
			fuzz_assert(wagain.w[i].pid == ws.w[i].pid && wagain.w[i].uid == ws.w[i].uid &&
				    wagain.w[i].acked == ws.w[i].acked &&
				    wagain.w[i].outdated_ms == ws.w[i].outdated_ms &&
				    strcmp(wagain.w[i].comm, ws.w[i].comm) == 0);
	}
	if (protocol_metrics_parse(words, len, &m) == 0) {
		n = protocol_metrics_format(buf, sizeof(buf), &m);
		/* Counts too large for one line are a formatter error, never a cut line. */
		fuzz_assert(n == -ENOBUFS || (n > 0 && buf[n - 1] == '\n'));
		if (n > 0) {
			fuzz_assert(protocol_line_parse(buf, (size_t)n - 1, &l) == 0);
			fuzz_assert(protocol_metrics_parse(l.words, l.words_len, &magain) == 0);
			fuzz_assert(memcmp(&m, &magain, sizeof(m)) == 0);
		}
	}
}

static void check_reply(const char *line, size_t len)
{
	struct protocol_line l, untouched, again;
	char buf[PROTOCOL_REPLY_MAX];
	int r, n;

	memset(&l, POISON, sizeof(l));
	memset(&untouched, POISON, sizeof(untouched));
	r = protocol_line_parse(line, len, &l);
	fuzz_assert(r == 0 || r == -EPROTO);
	if (r < 0) {
		fuzz_assert(memcmp(&l, &untouched, sizeof(l)) == 0);
		return;
	}
	/* words points into the line and ends inside it: callers print and parse it. */
	fuzz_assert(l.words >= line && l.words <= line + len);
	fuzz_assert(l.words_len <= (size_t)(line + len - l.words));

	/* The number after OK or GEN, read the plain way: no wrap-around, no prefix taken. */
	if (l.kind != PROTOCOL_LINE_ERR) {
		const char *sp = memchr(l.words, ' ', l.words_len);
		size_t wlen = sp ? (size_t)(sp - l.words) : l.words_len;
		uint64_t v = 0;
		bool num = fuzz_plain_u64(l.words, wlen, &v);

		fuzz_assert(l.has_value == num && (!num || l.value == v));
	}

	switch (l.kind) {
	case PROTOCOL_LINE_OK:
		fuzz_assert(len >= 2 && memcmp(line, "OK", 2) == 0);
		if (l.has_value) {
			n = protocol_format_ok_u64(buf, sizeof(buf), l.value);
			fuzz_assert(n > 0 && protocol_line_parse(buf, (size_t)n - 1, &again) == 0);
			fuzz_assert(again.kind == PROTOCOL_LINE_OK && again.has_value &&
				    again.value == l.value);
		}
		/* What snapsafectl status does with the words of an OK. */
		{
			char *w = fuzz_dup(l.words, l.words_len);

			check_status(w, l.words_len);
			check_watchers_and_metrics(w, l.words_len);
			free(w);
		}
		break;
	case PROTOCOL_LINE_ERR:
		fuzz_assert(len >= 3 && memcmp(line, "ERR", 3) == 0);
		/* The library returns -error: it must be a real errno the table can name. */
		fuzz_assert(l.error > 0 && protocol_errno_name(l.error));
		n = protocol_format_err(buf, sizeof(buf), l.error, "fuzz");
		fuzz_assert(n > 0 && protocol_line_parse(buf, (size_t)n - 1, &again) == 0);
		fuzz_assert(again.kind == PROTOCOL_LINE_ERR && again.error == l.error);
		break;
	case PROTOCOL_LINE_GEN:
		fuzz_assert(len >= 3 && memcmp(line, "GEN", 3) == 0);
		fuzz_assert(l.has_value && l.value <= UINT32_MAX);
		n = protocol_format_gen(buf, sizeof(buf), (uint32_t)l.value);
		fuzz_assert(n > 0 && protocol_line_parse(buf, (size_t)n - 1, &again) == 0);
		fuzz_assert(again.kind == PROTOCOL_LINE_GEN && again.value == l.value);
		break;
	default:
		fuzz_assert(!"unknown line kind");
	}
}

/* The name tables: a name found maps back to exactly that name. */
static void check_names(const char *s, size_t len)
{
	int e = protocol_errno_from_name(s, len);
	int id = protocol_notifier_from_name(s, len);

	if (e != 0) {
		const char *name = protocol_errno_name(e);

		fuzz_assert(e > 0 && name && strlen(name) == len && memcmp(name, s, len) == 0);
	}
	fuzz_assert(id == -ENOENT || (id >= 0 && id < _SNAPSAFE_NOTIFIER_MAX));
	if (id >= 0) {
		const char *name = protocol_notifier_name((unsigned)id);

		fuzz_assert(name && strlen(name) == len && memcmp(name, s, len) == 0);
	}
}

static void check_line(const char *line, size_t len)
{
	check_request(line, len);
	check_reply(line, len);
	check_status(line, len);
	check_names(line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_for_each_line(data, size, check_line);
	return 0;
}
