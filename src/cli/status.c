/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl status: the daemon's STATUS line, as a table for people or one JSON object for
 * control planes, with the daemon's pid and version, how long ago the generation was last
 * raised and by which notifier.
 *
 * When no daemon answers on the socket, the generation page itself is read (mapped
 * read-only, as every library does) to say what the libraries see: a page a daemon still
 * owns (starting, stopping, or its socket removed); a page no daemon owns that says none
 * runs; or a stale page that still says RUNNING because its daemon was killed with SIGKILL,
 * which libraries trust until the next start (exit CLI_EXIT_STALE). Ownership is the
 * daemon's exclusive flock on the page (docs/page.md, "Lifetime").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "page.h"
#include "protocol.h"
#include "runtime-dir.h"
#include "snapsafectl.h"
#include "vmclock.h"

/* What the page says when no daemon answers. */
enum page_owner {
	PAGE_OWNED,		/* a daemon holds the flock but does not answer */
	PAGE_STOPPED,		/* nobody holds it and it says so */
	PAGE_STALE,		/* nobody holds it but it says RUNNING */
};

static const char *status_notifier(unsigned id)
{
	const char *n = protocol_notifier_name(id);

	return n ? n : "unknown";
}

/* "2026-11-28 18:00:00.123 UTC, 3 min 12 s ago", or "never". */
static void status_time(char *buf, size_t size, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	unsigned ms = (unsigned)(ns % 1000000000u / 1000000u);
	struct timespec now;
	uint64_t now_ns;
	char ago[64];
	struct tm tm;
	size_t n = 0;

	if (ns != 0 && gmtime_r(&t, &tm))
		n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	if (n == 0) {
		snprintf(buf, size, "never");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	if (now_ns >= ns) {
		cli_duration(ago, sizeof(ago), (now_ns - ns) / 1000000u);
		snprintf(buf + n, size - n, ".%03u UTC, %s ago", ms, ago);
	} else {
		/* The clock went back since (or the page is another machine's): say so. */
		cli_duration(ago, sizeof(ago), (ns - now_ns) / 1000000u);
		snprintf(buf + n, size - n, ".%03u UTC, %s in the future (the clock went back?)",
			 ms, ago);
	}
}

/* The members a STATUS reply and the page have in common. */
static void status_json_common(struct json *j, const struct protocol_status *s)
{
	char hex[16];

	snprintf(hex, sizeof(hex), "0x%08" PRIx32, s->epoch);
	json_u64(j, "version", s->version);
	json_u64(j, "generation", s->generation);
	json_u64(j, "epoch", s->epoch);
	json_string(j, "epoch_hex", hex);
	json_string(j, "epoch_notifier", status_notifier(s->epoch_notifier));
}

static void status_json_notifiers(struct json *j, const struct protocol_status *s)
{
	json_object(j, "notifiers");
	for (unsigned i = 0; i < 64; i++)
		if ((s->notifiers_known >> i) & 1)
			json_bool(j, status_notifier(i), (s->notifiers_live >> i) & 1);
	json_close(j, '}');
}

static int status_print_json(const struct protocol_status *s)
{
	struct json j;

	json_begin(&j);
	json_object(&j, NULL);
	status_json_common(&j, s);
	json_u64(&j, "watchers", s->watchers);
	json_u64(&j, "outdated", s->outdated);
	json_bool(&j, "quiesced", s->quiesced);
	json_u64(&j, "last_raise_ns", s->last_raise_ns);
	status_json_notifiers(&j, s);
	json_string(&j, "daemon", "running");
	/* An older daemon does not say: the members are left out, not made up. */
	if (s->daemon_pid) {
		json_u64(&j, "pid", s->daemon_pid);
		json_string(&j, "daemon_version", s->daemon_version);
		json_string(&j, "raise_notifier", status_notifier(s->raise_notifier));
		if (protocol_vmclock_access_name(s->vmclock_access))
			json_string(&j, "vmclock", protocol_vmclock_access_name(s->vmclock_access));
	}
	json_close(&j, '}');
	return cli_json_end(&j);
}

static void status_print_notifiers(const struct protocol_status *s)
{
	printf("notifiers:\n");
	for (unsigned i = 0; i < 64; i++)
		if ((s->notifiers_known >> i) & 1)
			printf("  %-12s %s\n", status_notifier(i),
			       (s->notifiers_live >> i) & 1 ? "live" : "off");
}

/* Whether processes that are not root get VMClock's protection (they must map the device). */
static void status_print_vmclock(unsigned access)
{
	static const char *const what[] = {
		[VMCLOCK_ACCESS_ABSENT]		= "no device",
		[VMCLOCK_ACCESS_PRIVILEGED]	= "root only (unprivileged processes cannot map it: "
						  "install the udev rule)",
		[VMCLOCK_ACCESS_EVERYONE]	= "readable by every user",
	};

	if (protocol_vmclock_access_name(access))
		printf("vmclock:     %s\n", what[access]);
}

static void status_print_table(const struct protocol_status *s)
{
	char when[160];

	status_time(when, sizeof(when), s->last_raise_ns);
	if (s->daemon_pid)
		printf("daemon:      pid %" PRIu32 ", version %s\n", s->daemon_pid,
		       s->daemon_version[0] ? s->daemon_version : "unknown");
	else
		printf("daemon:      running (too old to report its pid and version)\n");
	printf("generation:  %" PRIu32 "\n"
	       "epoch:       0x%08" PRIx32 " (%s)\n"
	       "watchers:    %" PRIu64 "\n"
	       "outdated:    %" PRIu64 "\n"
	       "quiesced:    %s\n"
	       "last raise:  %s",
	       s->generation, s->epoch, status_notifier(s->epoch_notifier), s->watchers,
	       s->outdated, s->quiesced ? "yes" : "no", when);
	/* raise_notifier covers this daemon's run only; an older raise came from the page. */
	if (s->daemon_pid && s->last_raise_ns) {
		if (s->raise_notifier != SNAPSAFE_NOTIFIER_NONE)
			printf(", by %s", status_notifier(s->raise_notifier));
		else
			printf(", before this daemon started");
	}
	printf("\n");
	status_print_vmclock(s->vmclock_access);
	status_print_notifiers(s);
}

/* What a reader of the page sees, in the words of a STATUS reply. */
static void status_from_page_fields(const struct snapsafe_page *pg, struct protocol_status *s,
				    uint32_t *ret_flags, uint32_t *ret_pid)
{
	/* generation and epoch in one acquire load, then the rest: docs/page.md, "Ordering". */
	uint64_t ge = snapsafe_page_gen_epoch(pg);

	*s = (struct protocol_status){
		.version = __atomic_load_n(&pg->version, __ATOMIC_RELAXED),
		.generation = (uint32_t)ge,
		.epoch = (uint32_t)(ge >> 32),
		.epoch_notifier = SNAPSAFE_EPOCH_ID(ge >> 32),
		.last_raise_ns = __atomic_load_n(&pg->last_raise_ns, __ATOMIC_RELAXED),
		.notifiers_live = __atomic_load_n(&pg->live_notifiers, __ATOMIC_RELAXED),
	};
	*ret_flags = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED);
	*ret_pid = __atomic_load_n(&pg->daemon_pid, __ATOMIC_RELAXED);
	s->quiesced = *ret_flags & SNAPSAFE_PAGE_QUIESCED;
	/* Every notifier but "none", as STATUS lists them. */
	for (unsigned i = 1; i < _SNAPSAFE_NOTIFIER_MAX; i++)
		s->notifiers_known |= 1ull << i;
}

static int status_print_page(const char *path, enum page_owner owner, int connect_error,
			     const struct protocol_status *s, uint32_t flags, uint32_t pid)
{
	const char *dir = client_runtime_dir();
	static const char *const names[] = {
		[PAGE_OWNED] = "not-answering", [PAGE_STOPPED] = "stopped", [PAGE_STALE] = "stale",
	};
	char when[160], pids[32] = "";
	struct json j, *jp = NULL;

	if (flags & SNAPSAFE_PAGE_RUNNING)
		snprintf(pids, sizeof(pids), " (pid %" PRIu32 ")", pid);
	if (cli_json != CLI_JSON_OFF) {
		jp = &j;
		json_begin(&j);
		json_object(&j, NULL);
		json_string(&j, "daemon", names[owner]);
		if (flags & SNAPSAFE_PAGE_RUNNING)
			json_u64(&j, "pid", pid);
		status_json_common(&j, s);
		json_bool(&j, "quiesced", s->quiesced);
		json_u64(&j, "last_raise_ns", s->last_raise_ns);
		status_json_notifiers(&j, s);
	} else {
		status_time(when, sizeof(when), s->last_raise_ns);
		printf("daemon:      %s\n"
		       "generation:  %" PRIu32 "\n"
		       "epoch:       0x%08" PRIx32 " (%s)\n"
		       "quiesced:    %s\n"
		       "last raise:  %s\n",
		       owner == PAGE_OWNED ? "owns the page but does not answer" :
		       owner == PAGE_STALE ? "none, but the page says one runs (stale)" : "none",
		       s->generation, s->epoch, status_notifier(s->epoch_notifier),
		       s->quiesced ? "yes" : "no", when);
		status_print_notifiers(s);
	}
	switch (owner) {
	case PAGE_STALE:
		return cli_fail_json(jp, CLI_EXIT_STALE, 0, "status: the page %s says a daemon runs%s "
				     "but none does: it was killed; libraries trust the page until "
				     "the next start of snapsafed", path, pids);
	case PAGE_OWNED:
		return cli_fail_json(jp, CLI_EXIT_UNREACHABLE, connect_error, "status: a daemon%s "
				     "owns %s but does not answer on %s/%s: %s (starting, stopping, "
				     "or its socket was removed)", pids, path, dir,
				     SNAPSAFE_SOCKET_FILE, strerror(-connect_error));
	case PAGE_STOPPED:
	default:
		return cli_fail_json(jp, CLI_EXIT_UNREACHABLE, connect_error, "status: no daemon runs "
				     "at %s: the page says the last one stopped; libraries serve "
				     "from the kernel (%s/%s: %s)", dir, dir, SNAPSAFE_SOCKET_FILE,
				     strerror(-connect_error));
	}
}

/*
 * No daemon answered (@connect_error): read the page. No page at all is the same failure
 * as for every other subcommand: unreachable.
 */
static int status_from_page(int connect_error)
{
	const struct snapsafe_page *pg;
	struct protocol_status s;
	enum page_owner owner;
	char path[4096];
	uint32_t flags, pid;
	struct stat st;
	void *map;
	int fd, r;

	if (runtime_path(path, sizeof(path), client_runtime_dir(), SNAPSAFE_PAGE_FILE) < 0)
		return cli_unreachable(connect_error);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cli_unreachable(connect_error);
	/* A short file would SIGBUS the mapping; the daemon never leaves one. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < SNAPSAFE_PAGE_SIZE) {
		close(fd);
		return cli_fail(CLI_EXIT_FAILURE, 0, "status: %s is not a generation page (not a "
				"regular file of %d bytes)", path, SNAPSAFE_PAGE_SIZE);
	}
	map = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		close(fd);
		return cli_fail(CLI_EXIT_FAILURE, r, "status: cannot map %s: %s", path, strerror(-r));
	}
	pg = map;
	if (pg->magic != SNAPSAFE_PAGE_MAGIC || pg->version != SNAPSAFE_PAGE_VERSION) {
		/* Read what the message names before the mapping goes. */
		uint32_t magic = pg->magic;
		unsigned version = pg->version;

		munmap(map, SNAPSAFE_PAGE_SIZE);
		close(fd);
		return cli_fail(CLI_EXIT_FAILURE, 0, "status: %s is not a generation page this "
				"version knows (magic 0x%08" PRIx32 ", version %u)", path, magic,
				version);
	}
	/*
	 * A running daemon holds an exclusive flock on the page, and only the holder writes
	 * it. A shared lock that we get means nobody does: read the fields while we hold it,
	 * so that a daemon that starts or stops meanwhile cannot make a page that it just
	 * took over, or just left cleanly, look stale. Then give the lock back at once: a
	 * daemon starting at this very moment takes its lock without waiting, and refuses to
	 * start while we hold ours.
	 */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		status_from_page_fields(pg, &s, &flags, &pid);
		flock(fd, LOCK_UN);
		owner = flags & SNAPSAFE_PAGE_RUNNING ? PAGE_STALE : PAGE_STOPPED;
	} else if (errno == EWOULDBLOCK) {
		status_from_page_fields(pg, &s, &flags, &pid);
		owner = PAGE_OWNED;
	} else {
		r = -errno;
		munmap(map, SNAPSAFE_PAGE_SIZE);
		close(fd);
		return cli_fail(CLI_EXIT_FAILURE, r, "status: cannot tell whether a daemon owns %s: "
				"%s", path, strerror(-r));
	}
	munmap(map, SNAPSAFE_PAGE_SIZE);
	close(fd);
	return status_print_page(path, owner, connect_error, &s, flags, pid);
}

int cmd_status(int argc, char **argv)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_status s;
	struct protocol_line l;
	struct cli_options o;
	char why[512];
	int fd, r;

	r = cli_parse(argc, argv, NULL, &o);
	if (r >= 0)
		return r;
	fd = client_connect(NULL);
	if (fd < 0) {
		/* Nobody listens, and the directory is fine: the page says what libraries see. */
		if ((fd == -ENOENT || fd == -ECONNREFUSED) &&
		    !cli_unreachable_reason(fd, why, sizeof(why)))
			return status_from_page(fd);
		return cli_unreachable(fd);
	}
	r = client_request(fd, "STATUS", buf, sizeof(buf), &l);
	close(fd);
	if (r < 0)
		return cli_error("status", r);
	r = protocol_status_parse(l.words, l.words_len, &s);
	if (r < 0)
		return cli_error("status", r);
	if (cli_json != CLI_JSON_OFF)
		return status_print_json(&s);
	status_print_table(&s);
	return CLI_EXIT_OK;
}
