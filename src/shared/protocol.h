/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol of docs/protocol.md, both sides: the strict request parser
 * the daemon runs on every line a client sends (the fuzz target), the reply and event
 * formatting, the errno name table, and the reply and STATUS parsers a client uses.
 * Pure functions: no I/O, no allocation, no logging.
 */
#ifndef SNAPSAFE_SHARED_PROTOCOL_H
#define SNAPSAFE_SHARED_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page.h"

enum {
	PROTOCOL_VERSION	= 1,
	PROTOCOL_LINE_MAX	= 256,	/* bytes of a request line, including the '\n' */
	PROTOCOL_REPLY_MAX	= 512,	/* a buffer that holds any reply or event line */
	PROTOCOL_MAX_CLIENTS	= 4096,
	PROTOCOL_OUTPUT_MAX	= 64 * 1024,	/* unsent bytes before a slow reader is dropped */
	PROTOCOL_IDLE_TIMEOUT_MS = 10000,	/* silence before the first request / mid-line */
};

enum protocol_request_type {
	PROTOCOL_REQUEST_HELLO,
	PROTOCOL_REQUEST_STATUS,
	PROTOCOL_REQUEST_WATCH,
	PROTOCOL_REQUEST_READ,
	PROTOCOL_REQUEST_ACK,
	PROTOCOL_REQUEST_OUTDATED,
	PROTOCOL_REQUEST_WAIT,
	PROTOCOL_REQUEST_TRIGGER,
	PROTOCOL_REQUEST_QUIESCE,
	PROTOCOL_REQUEST_RESUME,
	PROTOCOL_REQUEST_WATCHERS,
	PROTOCOL_REQUEST_METRICS,
	_PROTOCOL_REQUEST_MAX,
};

struct protocol_request {
	enum protocol_request_type type;
	uint32_t arg;		/* HELLO version, ACK gen, WAIT timeout_ms, TRIGGER min_gen,
				   WATCHERS start; else 0 */
};

/*
 * protocol_request_parse() - parse one request line.
 * @line: the bytes of the line without its '\n' (a trailing '\r' is ignored)
 * @len: their number
 * @ret: written only on success
 * Return: 0; -E2BIG when @len + 1 exceeds PROTOCOL_LINE_MAX; -EPROTO for a NUL or other
 * non-printable byte (both close the connection); -EINVAL for an unknown request, a
 * missing/extra/malformed argument or a number above UINT32_MAX.
 */
int protocol_request_parse(const char *line, size_t len, struct protocol_request *ret);

/* protocol_request_name() - "HELLO", "STATUS", ...; NULL for an invalid type. */
const char *protocol_request_name(enum protocol_request_type type);

/*
 * Reply and event lines, each ending in '\n', NUL-terminated in @buf.
 * Return: the length without the NUL, or -ENOBUFS when @size is too small.
 */
int protocol_format_ok(char *buf, size_t size, const char *words);	/* "OK" or "OK <words>" */
int protocol_format_ok_u64(char *buf, size_t size, uint64_t value);	/* "OK <value>" */
int protocol_format_err(char *buf, size_t size, int error, const char *text); /* "ERR EINVAL text" */
int protocol_format_gen(char *buf, size_t size, uint32_t generation);	/* "GEN <generation>" */

/*
 * protocol_errno_name() - "EINVAL" for EINVAL or -EINVAL; NULL when not in the table.
 * protocol_errno_from_name() - the positive errno for a name of @len bytes, or 0.
 * The table holds every errno a reply can carry; an unknown name on the client side
 * should be treated as EPROTO.
 */
const char *protocol_errno_name(int error);
int protocol_errno_from_name(const char *name, size_t len);

enum protocol_line_kind {
	PROTOCOL_LINE_OK,
	PROTOCOL_LINE_ERR,
	PROTOCOL_LINE_GEN,
};

struct protocol_line {
	enum protocol_line_kind kind;
	int error;		/* ERR: the positive errno (EPROTO for an unknown name) */
	bool has_value;		/* OK/GEN: the first word after the keyword is a number */
	uint64_t value;		/* OK/GEN: that number */
	const char *words;	/* OK: the text after "OK " ("" if none); ERR: the free text */
	size_t words_len;
};

/*
 * protocol_line_parse() - classify a line received from the daemon (client side).
 * @line, @len: without the '\n'; @ret->words points into @line.
 * Return: 0, or -EPROTO for a line that is none of OK/ERR/GEN.
 */
int protocol_line_parse(const char *line, size_t len, struct protocol_line *ret);

/* The notifier names used in STATUS: "control", "timer", "vmfork-kmsg", ... */
const char *protocol_notifier_name(unsigned id);
/* protocol_notifier_from_name() - the id for a name of @len bytes, or -ENOENT. */
int protocol_notifier_from_name(const char *name, size_t len);

struct protocol_status {
	uint32_t version;
	uint32_t generation;
	uint32_t epoch;
	unsigned epoch_notifier;	/* a snapsafe_notifier_id */
	uint64_t watchers;
	uint64_t outdated;
	bool quiesced;
	uint64_t last_raise_ns;
	uint64_t notifiers_known;	/* bit n: notifier id n was listed */
	uint64_t notifiers_live;	/* bit n: notifier id n was listed as live */
	uint32_t daemon_pid;		/* 0 when not given (older daemons) */
	char daemon_version[32];	/* "" when not given */
	unsigned raise_notifier;	/* who raised the generation last; NONE: never */
	unsigned vmclock_access;	/* an enum vmclock_access; UNKNOWN when not given */
};

/* The words STATUS uses for an enum vmclock_access ("absent", ...); NULL for UNKNOWN. */
const char *protocol_vmclock_access_name(unsigned access);

/*
 * protocol_status_format() - the whole STATUS reply line, "OK version=1 ...\n".
 * Return: as the other formatters.
 */
int protocol_status_format(char *buf, size_t size, const struct protocol_status *s);

/*
 * protocol_status_parse() - parse the key=value words of a STATUS reply (after "OK ").
 * Unknown keys and unknown notifier names are ignored (later versions add them);
 * missing keys stay 0.
 * Return: 0, or -EPROTO for a malformed word or a malformed known value.
 */
int protocol_status_parse(const char *words, size_t len, struct protocol_status *ret);

/* One entry of a WATCHERS reply. */
struct protocol_watcher {
	uint32_t pid;
	uint32_t uid;
	uint32_t acked;			/* the generation it acknowledged last */
	uint64_t outdated_ms;		/* how long it has been outdated; 0: up to date */
	char comm[16];			/* the process name, bytes other than [A-Za-z0-9._+-] as '_' */
};

enum { PROTOCOL_WATCHERS_PAGE_MAX = 16 };

/* A WATCHERS reply: entries [start, next) of @total; next == total on the last page. */
struct protocol_watchers {
	uint64_t total;
	uint64_t next;
	unsigned count;
	struct protocol_watcher w[PROTOCOL_WATCHERS_PAGE_MAX];
};

/*
 * protocol_watchers_format() - "OK total=<n> next=<k> w=<pid>:<uid>:<acked>:<ms>:<comm> ...\n"
 * with as many of the @n entries @w (which start at index @start of @total) as fit in
 * @size, at most PROTOCOL_WATCHERS_PAGE_MAX. @ret_used: how many went in.
 * Return: as the other formatters.
 */
int protocol_watchers_format(char *buf, size_t size, uint64_t total, uint64_t start,
			     const struct protocol_watcher *w, unsigned n, unsigned *ret_used);
/* protocol_watchers_parse() - the words of a WATCHERS reply (after "OK "). */
int protocol_watchers_parse(const char *words, size_t len, struct protocol_watchers *ret);

/* Counters since the daemon started, for METRICS. */
struct protocol_metrics {
	uint64_t clients;		/* connections now */
	uint64_t accepted;		/* connections taken */
	uint64_t refused_clients;	/* connections refused at the limits */
	uint64_t refused_requests;	/* privileged requests refused */
	uint64_t watchers;
	uint64_t outdated;
	uint64_t raises[_SNAPSAFE_NOTIFIER_MAX];	/* generation raises, per notifier */
	uint64_t epochs[_SNAPSAFE_NOTIFIER_MAX];	/* epoch changes (raises too), per notifier */
};

/*
 * protocol_metrics_format() - "OK clients=<n> accepted=<n> refused_clients=<n>
 * refused_requests=<n> watchers=<n> outdated=<n> raises=<name>:<n>,... epochs=...\n"
 * (only notifiers with a non-zero count are listed).
 * protocol_metrics_parse() - its words (after "OK "); unknown keys and names are ignored.
 */
int protocol_metrics_format(char *buf, size_t size, const struct protocol_metrics *m);
int protocol_metrics_parse(const char *words, size_t len, struct protocol_metrics *ret);

#endif
