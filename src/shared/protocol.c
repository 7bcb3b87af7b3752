/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol of docs/protocol.md as pure functions: the strict request
 * parser (fed by every client and by the fuzzer, so it reads only @len bytes and
 * accepts exactly the grammar of the document), the reply/event formatters, the
 * errno name table and the client-side reply and STATUS parsers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "page.h"
#include "parse-number.h"
#include "protocol.h"
#include "vmclock.h"

static const struct {
	const char *name;
	enum protocol_request_type type;
	bool takes_arg;		/* a number must follow */
	bool arg_optional;	/* ... or may be left out (TRIGGER) */
} requests[] = {
	{ "HELLO",	PROTOCOL_REQUEST_HELLO,		true,	false },
	{ "STATUS",	PROTOCOL_REQUEST_STATUS,	false,	false },
	{ "WATCH",	PROTOCOL_REQUEST_WATCH,		false,	false },
	{ "READ",	PROTOCOL_REQUEST_READ,		false,	false },
	{ "ACK",	PROTOCOL_REQUEST_ACK,		true,	false },
	{ "OUTDATED",	PROTOCOL_REQUEST_OUTDATED,	false,	false },
	{ "WAIT",	PROTOCOL_REQUEST_WAIT,		true,	false },
	{ "TRIGGER",	PROTOCOL_REQUEST_TRIGGER,	true,	true },
	{ "QUIESCE",	PROTOCOL_REQUEST_QUIESCE,	false,	false },
	{ "RESUME",	PROTOCOL_REQUEST_RESUME,	false,	false },
	{ "WATCHERS",	PROTOCOL_REQUEST_WATCHERS,	true,	true },
	{ "METRICS",	PROTOCOL_REQUEST_METRICS,	false,	false },
};

/* Digits only: no sign, no spaces, no overflow (parse-number.h). */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	return parse_uint(s, len, 10, UINT64_MAX, ret);
}

int protocol_request_parse(const char *line, size_t len, struct protocol_request *ret)
{
	const char *sp;
	size_t wlen;

	if (len >= PROTOCOL_LINE_MAX)	/* the '\n' counts towards the limit */
		return -E2BIG;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* Framing first: a NUL or control byte means the peer does not speak this protocol. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			return -EPROTO;

	sp = memchr(line, ' ', len);
	wlen = sp ? (size_t)(sp - line) : len;

	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		uint64_t v = 0;

		if (strlen(requests[i].name) != wlen || memcmp(requests[i].name, line, wlen) != 0)
			continue;
		if (sp) {
			const char *arg = sp + 1;
			size_t alen = len - wlen - 1;

			if (!requests[i].takes_arg)
				return -EINVAL;
			/* A single number: a second space (or an empty word) is an error. */
			if (parse_u64(arg, alen, &v) < 0 || v > UINT32_MAX)
				return -EINVAL;
		} else if (requests[i].takes_arg && !requests[i].arg_optional) {
			return -EINVAL;
		}
		*ret = (struct protocol_request) { .type = requests[i].type, .arg = (uint32_t)v };
		return 0;
	}
	return -EINVAL;
}

const char *protocol_request_name(enum protocol_request_type type)
{
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		if (requests[i].type == type)
			return requests[i].name;
	return NULL;
}

static int finish(int n, size_t size)
{
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

int protocol_format_ok(char *buf, size_t size, const char *words)
{
	if (!words || !*words)
		return finish(snprintf(buf, size, "OK\n"), size);
	return finish(snprintf(buf, size, "OK %s\n", words), size);
}

int protocol_format_ok_u64(char *buf, size_t size, uint64_t value)
{
	return finish(snprintf(buf, size, "OK %" PRIu64 "\n", value), size);
}

int protocol_format_err(char *buf, size_t size, int error, const char *text)
{
	const char *name = protocol_errno_name(error);

	/* Every errno the daemon replies with is in the table; anything else is a bug there. */
	if (!name)
		name = "EIO";
	if (!text || !*text)
		text = "error";
	return finish(snprintf(buf, size, "ERR %s %s\n", name, text), size);
}

int protocol_format_gen(char *buf, size_t size, uint32_t generation)
{
	return finish(snprintf(buf, size, "GEN %" PRIu32 "\n", generation), size);
}

#define E(x) { x, #x }
static const struct {
	int error;
	const char *name;
} errnos[] = {
	E(EPERM), E(ENOENT), E(EINTR), E(EIO), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EBUSY), E(EEXIST), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC), E(EPIPE), E(ERANGE),
	E(E2BIG), E(ENOSYS), E(ENOTSUP), E(EPROTO), E(EMSGSIZE), E(EALREADY), E(EINPROGRESS),
	E(ETIMEDOUT), E(ECONNREFUSED), E(ECONNRESET), E(ENOBUFS), E(ESHUTDOWN), E(ECANCELED),
	E(EOVERFLOW), E(ENOTCONN), E(ESTALE), E(EDEADLK), E(ENODEV), E(ENXIO),
};
#undef E

const char *protocol_errno_name(int error)
{
	if (error < 0)
		error = -error;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].error == error)
			return errnos[i].name;
	return NULL;
}

int protocol_errno_from_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strlen(errnos[i].name) == len && memcmp(errnos[i].name, name, len) == 0)
			return errnos[i].error;
	return 0;
}

/* Does @line start with the keyword @kw followed by the end or a space? */
static bool keyword(const char *line, size_t len, const char *kw, size_t *ret_rest)
{
	size_t n = strlen(kw);

	if (len < n || memcmp(line, kw, n) != 0)
		return false;
	if (len == n) {
		*ret_rest = n;
		return true;
	}
	if (line[n] != ' ')
		return false;
	*ret_rest = n + 1;
	return true;
}

int protocol_line_parse(const char *line, size_t len, struct protocol_line *ret)
{
	struct protocol_line l = {};
	size_t rest;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (keyword(line, len, "OK", &rest))
		l.kind = PROTOCOL_LINE_OK;
	else if (keyword(line, len, "ERR", &rest))
		l.kind = PROTOCOL_LINE_ERR;
	else if (keyword(line, len, "GEN", &rest))
		l.kind = PROTOCOL_LINE_GEN;
	else
		return -EPROTO;

	l.words = line + rest;
	l.words_len = len - rest;
	if (l.kind == PROTOCOL_LINE_ERR) {
		const char *sp = memchr(l.words, ' ', l.words_len);
		size_t nlen = sp ? (size_t)(sp - l.words) : l.words_len;

		l.error = protocol_errno_from_name(l.words, nlen);
		if (l.error == 0)
			l.error = EPROTO;
		l.words = sp ? sp + 1 : l.words + nlen;
		l.words_len = sp ? l.words_len - nlen - 1 : 0;
	} else {
		const char *sp = memchr(l.words, ' ', l.words_len);
		size_t nlen = sp ? (size_t)(sp - l.words) : l.words_len;

		l.has_value = parse_u64(l.words, nlen, &l.value) == 0;
		if (l.kind == PROTOCOL_LINE_GEN && (!l.has_value || l.value > UINT32_MAX))
			return -EPROTO;
	}
	*ret = l;
	return 0;
}

static const char *const notifier_names[_SNAPSAFE_NOTIFIER_MAX] = {
	[SNAPSAFE_NOTIFIER_NONE]	= "none",
	[SNAPSAFE_NOTIFIER_CONTROL]	= "control",
	[SNAPSAFE_NOTIFIER_TIMER]	= "timer",
	[SNAPSAFE_NOTIFIER_VMFORK_KMSG]	= "vmfork-kmsg",
	[SNAPSAFE_NOTIFIER_UEVENT]	= "uevent",
	[SNAPSAFE_NOTIFIER_VMCLOCK]	= "vmclock",
	[SNAPSAFE_NOTIFIER_SYSGENID]	= "sysgenid",
	[SNAPSAFE_NOTIFIER_STARTUP]	= "startup",
};

const char *protocol_notifier_name(unsigned id)
{
	if (id >= _SNAPSAFE_NOTIFIER_MAX)
		return NULL;
	return notifier_names[id];
}

int protocol_notifier_from_name(const char *name, size_t len)
{
	for (unsigned i = 0; i < _SNAPSAFE_NOTIFIER_MAX; i++)
		if (strlen(notifier_names[i]) == len && memcmp(notifier_names[i], name, len) == 0)
			return (int)i;
	return -ENOENT;
}

static const char *const vmclock_access_names[] = {
	[VMCLOCK_ACCESS_ABSENT]		= "absent",
	[VMCLOCK_ACCESS_PRIVILEGED]	= "privileged",
	[VMCLOCK_ACCESS_EVERYONE]	= "everyone",
};

const char *protocol_vmclock_access_name(unsigned access)
{
	if (access < VMCLOCK_ACCESS_ABSENT || access > VMCLOCK_ACCESS_EVERYONE)
		return NULL;
	return vmclock_access_names[access];
}

int protocol_status_format(char *buf, size_t size, const struct protocol_status *s)
{
	const char *en = protocol_notifier_name(s->epoch_notifier);
	size_t off;
	int n;

	n = snprintf(buf, size,
		     "OK version=%" PRIu32 " generation=%" PRIu32 " epoch=0x%08" PRIx32
		     " epoch_notifier=%s watchers=%" PRIu64 " outdated=%" PRIu64
		     " quiesced=%d last_raise_ns=%" PRIu64 " notifiers=",
		     s->version, s->generation, s->epoch, en ? en : "none", s->watchers,
		     s->outdated, s->quiesced ? 1 : 0, s->last_raise_ns);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	off = (size_t)n;
	/* Every notifier but "none" is listed, in id order, so the line is predictable. */
	for (unsigned i = 1; i < _SNAPSAFE_NOTIFIER_MAX; i++) {
		n = snprintf(buf + off, size - off, "%s%s:%s", i > 1 ? "," : "",
			     notifier_names[i], (s->notifiers_live >> i) & 1 ? "live" : "off");
		if (n < 0 || (size_t)n >= size - off)
			return -ENOBUFS;
		off += (size_t)n;
	}
	if (s->daemon_pid) {
		const char *rn = protocol_notifier_name(s->raise_notifier);

		const char *va = protocol_vmclock_access_name(s->vmclock_access);

		n = snprintf(buf + off, size - off, " pid=%" PRIu32 " daemon_version=%s"
			     " raise_notifier=%s%s%s", s->daemon_pid,
			     s->daemon_version[0] ? s->daemon_version : "unknown", rn ? rn : "none",
			     va ? " vmclock=" : "", va ? va : "");
		if (n < 0 || (size_t)n >= size - off)
			return -ENOBUFS;
		off += (size_t)n;
	}
	if (off + 2 > size)
		return -ENOBUFS;
	buf[off++] = '\n';
	buf[off] = '\0';
	return (int)off;
}

static int parse_u32(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v;

	if (parse_u64(s, len, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_hex32(const char *s, size_t len, uint32_t *ret)
{
	uint32_t v = 0;

	if (len < 3 || len > 10 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -EPROTO;
	for (size_t i = 2; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EPROTO;
		v = v << 4 | d;
	}
	*ret = v;
	return 0;
}

/* Visible ASCII only: a word of a reply carries no space and no control byte. */
static bool printable_word(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int parse_notifiers(const char *s, size_t len, struct protocol_status *st)
{
	while (len > 0) {
		const char *comma = memchr(s, ',', len);
		size_t ilen = comma ? (size_t)(comma - s) : len;
		const char *colon = memchr(s, ':', ilen);
		size_t nlen, slen;
		int id;

		if (!colon)
			return -EPROTO;
		nlen = (size_t)(colon - s);
		slen = ilen - nlen - 1;
		id = protocol_notifier_from_name(s, nlen);
		if (id >= 0) {
			st->notifiers_known |= 1ull << id;
			if (slen == 4 && memcmp(colon + 1, "live", 4) == 0)
				st->notifiers_live |= 1ull << id;
			else if (!(slen == 3 && memcmp(colon + 1, "off", 3) == 0))
				return -EPROTO;
		}
		if (!comma)
			break;
		s = comma + 1;
		len -= ilen + 1;
	}
	return 0;
}

int protocol_status_parse(const char *words, size_t len, struct protocol_status *ret)
{
	struct protocol_status st = {};

	while (len > 0) {
		const char *sp = memchr(words, ' ', len);
		size_t wlen = sp ? (size_t)(sp - words) : len;
		const char *eq = memchr(words, '=', wlen);
		const char *v;
		size_t klen, vlen;
		int r = 0;

		if (wlen == 0 || !eq)
			return -EPROTO;
		klen = (size_t)(eq - words);
		v = eq + 1;
		vlen = wlen - klen - 1;

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(words, k, klen) == 0)
		if (KEY("version")) {
			r = parse_u32(v, vlen, &st.version);
		} else if (KEY("generation")) {
			r = parse_u32(v, vlen, &st.generation);
		} else if (KEY("epoch")) {
			r = parse_hex32(v, vlen, &st.epoch);
		} else if (KEY("epoch_notifier")) {
			int id = protocol_notifier_from_name(v, vlen);

			st.epoch_notifier = id < 0 ? SNAPSAFE_NOTIFIER_NONE : (unsigned)id;
		} else if (KEY("watchers")) {
			r = parse_u64(v, vlen, &st.watchers) < 0 ? -EPROTO : 0;
		} else if (KEY("outdated")) {
			r = parse_u64(v, vlen, &st.outdated) < 0 ? -EPROTO : 0;
		} else if (KEY("quiesced")) {
			if (vlen == 1 && (v[0] == '0' || v[0] == '1'))
				st.quiesced = v[0] == '1';
			else
				r = -EPROTO;
		} else if (KEY("last_raise_ns")) {
			r = parse_u64(v, vlen, &st.last_raise_ns) < 0 ? -EPROTO : 0;
		} else if (KEY("notifiers")) {
			r = parse_notifiers(v, vlen, &st);
		} else if (KEY("pid")) {
			r = parse_u32(v, vlen, &st.daemon_pid);
		} else if (KEY("daemon_version")) {
			r = vlen < sizeof(st.daemon_version) && printable_word(v, vlen) ? 0 : -EPROTO;
			if (r == 0) {
				memcpy(st.daemon_version, v, vlen);
				st.daemon_version[vlen] = '\0';
			}
		} else if (KEY("raise_notifier")) {
			int id = protocol_notifier_from_name(v, vlen);

			st.raise_notifier = id < 0 ? SNAPSAFE_NOTIFIER_NONE : (unsigned)id;
		} else if (KEY("vmclock")) {
			/* A word a newer daemon may add reads as not reported. */
			st.vmclock_access = VMCLOCK_ACCESS_UNKNOWN;
			for (unsigned a = VMCLOCK_ACCESS_ABSENT; a <= VMCLOCK_ACCESS_EVERYONE; a++)
				if (strlen(vmclock_access_names[a]) == vlen &&
				    memcmp(vmclock_access_names[a], v, vlen) == 0)
					st.vmclock_access = a;
		}
#undef KEY
		if (r < 0)
			return r;
		if (!sp)
			break;
		words = sp + 1;
		len -= wlen + 1;
	}
	*ret = st;
	return 0;
}

/*
 * The next "key=value" word of @*words (@*len bytes), consumed.
 * Return: 1 with the key and value set, 0 at the end, -EPROTO for a word without '='.
 */
static int next_word(const char **words, size_t *len, const char **key, size_t *klen,
		     const char **value, size_t *vlen)
{
	const char *sp, *eq;
	size_t wlen;

	if (*len == 0)
		return 0;
	sp = memchr(*words, ' ', *len);
	wlen = sp ? (size_t)(sp - *words) : *len;
	eq = memchr(*words, '=', wlen);
	if (wlen == 0 || !eq)
		return -EPROTO;
	*key = *words;
	*klen = (size_t)(eq - *words);
	*value = eq + 1;
	*vlen = wlen - *klen - 1;
	*words += wlen + (sp ? 1 : 0);
	*len -= wlen + (sp ? 1 : 0);
	return 1;
}

static bool key_is(const char *key, size_t klen, const char *want)
{
	return strlen(want) == klen && memcmp(key, want, klen) == 0;
}

static bool comm_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == '-';
}

/* A process name as one word: bytes outside [A-Za-z0-9._+-] become '_'. */
static void comm_word(const char *comm, char out[16])
{
	size_t i;

	for (i = 0; i < 15 && comm[i]; i++)
		out[i] = comm_char(comm[i]) ? comm[i] : '_';
	if (i == 0)
		out[i++] = '_';
	out[i] = '\0';
}

int protocol_watchers_format(char *buf, size_t size, uint64_t total, uint64_t start,
			     const struct protocol_watcher *w, unsigned n, unsigned *ret_used)
{
	char entries[PROTOCOL_REPLY_MAX];
	size_t off = 0, room;
	unsigned used = 0;
	int head;

	/* The head with the largest "next" it could say, so the entries never push it out. */
	head = snprintf(NULL, 0, "OK total=%" PRIu64 " next=%" PRIu64 "\n", total, total);
	if (head < 0 || (size_t)head >= size)
		return -ENOBUFS;
	room = size - (size_t)head < sizeof(entries) ? size - (size_t)head : sizeof(entries);
	for (; used < n && used < PROTOCOL_WATCHERS_PAGE_MAX; used++) {
		char comm[16];
		int k;

		comm_word(w[used].comm, comm);
		k = snprintf(entries + off, room - off, " w=%" PRIu32 ":%" PRIu32 ":%" PRIu32 ":%"
			     PRIu64 ":%s", w[used].pid, w[used].uid, w[used].acked,
			     w[used].outdated_ms, comm);
		if (k < 0 || (size_t)k >= room - off)
			break;
		off += (size_t)k;
	}
	entries[off] = '\0';
	*ret_used = used;
	return finish(snprintf(buf, size, "OK total=%" PRIu64 " next=%" PRIu64 "%s\n", total,
			       start + used, entries), size);
}

/* "<pid>:<uid>:<acked>:<ms>:<comm>" */
static int parse_watcher(const char *v, size_t vlen, struct protocol_watcher *ret)
{
	struct protocol_watcher w = {};
	uint64_t f[4];
	const char *p = v, *end = v + vlen;

	for (unsigned i = 0; i < 4; i++) {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		if (!colon || parse_u64(p, (size_t)(colon - p), &f[i]) < 0 ||
		    (i < 3 && f[i] > UINT32_MAX))
			return -EPROTO;
		p = colon + 1;
	}
	if (end - p < 1 || (size_t)(end - p) >= sizeof(w.comm))
		return -EPROTO;
	for (const char *q = p; q < end; q++)
		if (!comm_char(*q))
			return -EPROTO;
	w.pid = (uint32_t)f[0];
	w.uid = (uint32_t)f[1];
	w.acked = (uint32_t)f[2];
	w.outdated_ms = f[3];
	memcpy(w.comm, p, (size_t)(end - p));
	*ret = w;
	return 0;
}

int protocol_watchers_parse(const char *words, size_t len, struct protocol_watchers *ret)
{
	struct protocol_watchers ws = {};
	const char *k, *v;
	size_t klen, vlen;
	bool have_total = false, have_next = false;
	int r;

	while ((r = next_word(&words, &len, &k, &klen, &v, &vlen)) > 0) {
		if (key_is(k, klen, "total")) {
			r = parse_u64(v, vlen, &ws.total) < 0 ? -EPROTO : 0;
			have_total = true;
		} else if (key_is(k, klen, "next")) {
			r = parse_u64(v, vlen, &ws.next) < 0 ? -EPROTO : 0;
			have_next = true;
		} else if (key_is(k, klen, "w")) {
			if (ws.count >= PROTOCOL_WATCHERS_PAGE_MAX)
				return -EPROTO;
			r = parse_watcher(v, vlen, &ws.w[ws.count++]);
		}
		if (r < 0)
			return r;
	}
	if (r < 0 || !have_total || !have_next)
		return -EPROTO;
	*ret = ws;
	return 0;
}

/* ",<name>:<n>" for every notifier with a count; "-" when none has one. */
static int format_counts(char *buf, size_t size, const uint64_t counts[_SNAPSAFE_NOTIFIER_MAX])
{
	size_t off = 0;

	for (unsigned i = 0; i < _SNAPSAFE_NOTIFIER_MAX; i++) {
		int n;

		if (!counts[i])
			continue;
		n = snprintf(buf + off, size - off, "%s%s:%" PRIu64, off ? "," : "",
			     notifier_names[i], counts[i]);
		if (n < 0 || (size_t)n >= size - off)
			return -ENOBUFS;
		off += (size_t)n;
	}
	if (off == 0)
		return finish(snprintf(buf, size, "-"), size);
	return (int)off;
}

int protocol_metrics_format(char *buf, size_t size, const struct protocol_metrics *m)
{
	char raises[PROTOCOL_REPLY_MAX], epochs[PROTOCOL_REPLY_MAX];

	if (format_counts(raises, sizeof(raises), m->raises) < 0 ||
	    format_counts(epochs, sizeof(epochs), m->epochs) < 0)
		return -ENOBUFS;
	return finish(snprintf(buf, size, "OK clients=%" PRIu64 " accepted=%" PRIu64
			       " refused_clients=%" PRIu64 " refused_requests=%" PRIu64
			       " watchers=%" PRIu64 " outdated=%" PRIu64 " raises=%s epochs=%s\n",
			       m->clients, m->accepted, m->refused_clients, m->refused_requests,
			       m->watchers, m->outdated, raises, epochs), size);
}

static int parse_counts(const char *s, size_t len, uint64_t counts[_SNAPSAFE_NOTIFIER_MAX])
{
	if (len == 1 && s[0] == '-')
		return 0;
	while (len > 0) {
		const char *comma = memchr(s, ',', len);
		size_t ilen = comma ? (size_t)(comma - s) : len;
		const char *colon = memchr(s, ':', ilen);
		uint64_t v;
		int id;

		if (!colon || parse_u64(colon + 1, ilen - (size_t)(colon - s) - 1, &v) < 0)
			return -EPROTO;
		id = protocol_notifier_from_name(s, (size_t)(colon - s));
		if (id >= 0)
			counts[id] = v;
		if (!comma)
			break;
		s = comma + 1;
		len -= ilen + 1;
	}
	return 0;
}

int protocol_metrics_parse(const char *words, size_t len, struct protocol_metrics *ret)
{
	struct protocol_metrics m = {};
	const char *k, *v;
	size_t klen, vlen;
	int r;

	while ((r = next_word(&words, &len, &k, &klen, &v, &vlen)) > 0) {
		uint64_t *field = key_is(k, klen, "clients") ? &m.clients :
				  key_is(k, klen, "accepted") ? &m.accepted :
				  key_is(k, klen, "refused_clients") ? &m.refused_clients :
				  key_is(k, klen, "refused_requests") ? &m.refused_requests :
				  key_is(k, klen, "watchers") ? &m.watchers :
				  key_is(k, klen, "outdated") ? &m.outdated : NULL;

		if (field)
			r = parse_u64(v, vlen, field) < 0 ? -EPROTO : 0;
		else if (key_is(k, klen, "raises"))
			r = parse_counts(v, vlen, m.raises);
		else if (key_is(k, klen, "epochs"))
			r = parse_counts(v, vlen, m.epochs);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	*ret = m;
	return 0;
}
