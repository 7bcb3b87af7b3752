/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The watcher and control semantics of docs/protocol.md against the real snapsafed:
 * WATCH/READ/ACK (EAGAIN, stale ACK), OUTDATED counting, WAIT (ETIMEDOUT, OK once all
 * acked, EDEADLK for an outdated caller or a caller whose watcher is outdated), TRIGGER
 * with min_gen, QUIESCE/RESUME, and that the page and the compat file follow.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "daemon-util.h"

static struct td t;

TEST(test_status_fresh_daemon)
{
	struct protocol_status st = td_status(&t);

	assert_eq(st.version, 1);
	assert_eq(st.generation, 0);
	assert_eq(st.watchers, 0);
	assert_eq(st.outdated, 0);
	assert_eq(st.quiesced, 0);
	/* control is always live; the kmsg test file makes vmfork-kmsg live; no uevent. */
	assert_true(st.notifiers_live & (1u << SNAPSAFE_NOTIFIER_CONTROL));
	assert_true(st.notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMFORK_KMSG));
	assert_true(!(st.notifiers_live & (1u << SNAPSAFE_NOTIFIER_UEVENT)));
	assert_true(!(st.notifiers_live & (1u << SNAPSAFE_NOTIFIER_VMCLOCK)));
	assert_true(st.notifiers_known & (1u << SNAPSAFE_NOTIFIER_SYSGENID));
}

TEST(test_watch_read_ack)
{
	struct tconn w, ctl;
	char line[256];
	uint32_t gen;

	tconn_open(&w, &t);
	tconn_open(&ctl, &t);
	gen = (uint32_t)tconn_u64(&w, "WATCH");
	assert_eq(gen, td_status(&t).generation);
	tconn_expect_prefix(&w, "WATCH", "ERR EALREADY");
	tconn_expect_prefix(&w, "READ", "ERR EAGAIN");
	assert_eq(tconn_u64(&ctl, "OUTDATED"), 0);

	assert_eq(tconn_u64(&ctl, "TRIGGER"), gen + 1);
	/* The event arrives unasked. */
	tconn_line(&w, line, sizeof(line));
	snprintf(line + 128, 64, "GEN %u", gen + 1);
	assert_true(strcmp(line, line + 128) == 0);
	assert_eq(tconn_u64(&ctl, "OUTDATED"), 1);
	assert_eq(tconn_u64(&w, "READ"), gen + 1);
	/* Reading does not acknowledge. */
	assert_eq(tconn_u64(&w, "READ"), gen + 1);
	assert_eq(tconn_u64(&ctl, "OUTDATED"), 1);
	/* A stale ack is refused and changes nothing. */
	snprintf(line, sizeof(line), "ACK %u", gen);
	tconn_expect(&w, line, "ERR EINVAL stale generation");
	snprintf(line, sizeof(line), "ACK %u", gen + 2);
	tconn_expect(&w, line, "ERR EINVAL stale generation");
	assert_eq(tconn_u64(&ctl, "OUTDATED"), 1);
	snprintf(line, sizeof(line), "ACK %u", gen + 1);
	assert_eq(tconn_u64(&w, line), gen + 1);
	assert_eq(tconn_u64(&ctl, "OUTDATED"), 0);
	tconn_expect_prefix(&w, "READ", "ERR EAGAIN");

	/* Not a watcher: READ and ACK make no sense. */
	tconn_expect_prefix(&ctl, "READ", "ERR EINVAL");
	tconn_close(&w);
	tconn_close(&ctl);
}

/* An outdated watcher's socket stays readable: a GEN line follows every reply. */
TEST(test_outdated_watcher_gets_gen_after_each_reply)
{
	struct tconn w;
	char line[256], want[64];
	uint32_t gen;

	tconn_open(&w, &t);
	gen = (uint32_t)tconn_u64(&w, "WATCH");
	assert_eq(td_u64(&t, "TRIGGER"), gen + 1);
	snprintf(want, sizeof(want), "GEN %u", gen + 1);
	tconn_line(&w, line, sizeof(line));
	assert_true(strcmp(line, want) == 0);
	tconn_send(&w, "OUTDATED");
	tconn_line(&w, line, sizeof(line));
	assert_true(strcmp(line, "OK 1") == 0);
	tconn_line(&w, line, sizeof(line));
	assert_true(strcmp(line, want) == 0);
	snprintf(line, sizeof(line), "ACK %u", gen + 1);
	tconn_send(&w, line);
	tconn_line(&w, line, sizeof(line));
	snprintf(want, sizeof(want), "OK %u", gen + 1);
	assert_true(strcmp(line, want) == 0);
	/* Acked: no GEN any more. */
	assert_eq(tconn_line_timeout(&w, line, sizeof(line), 300), -ETIMEDOUT);
	tconn_close(&w);
}

TEST(test_outdated_counts_only_watchers_at_the_raise)
{
	struct tconn a, b, late;
	char line[64];
	uint32_t gen;

	tconn_open(&a, &t);
	tconn_open(&b, &t);
	tconn_open(&late, &t);
	tconn_u64(&a, "WATCH");
	tconn_u64(&b, "WATCH");
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	assert_eq(td_u64(&t, "OUTDATED"), 2);
	/* A watcher registering after the raise starts acknowledged. */
	assert_eq(tconn_u64(&late, "WATCH"), gen);
	assert_eq(td_u64(&t, "OUTDATED"), 2);
	snprintf(line, sizeof(line), "ACK %u", gen);
	tconn_u64(&a, line);
	assert_eq(td_u64(&t, "OUTDATED"), 1);
	/* A watcher that goes away stops counting at once. */
	tconn_close(&b);
	for (int i = 0; i < 500 && td_u64(&t, "OUTDATED") != 0; i++)
		td_sleep_ms(10);
	assert_eq(td_u64(&t, "OUTDATED"), 0);
	assert_eq(td_status(&t).watchers, 2);
	tconn_close(&a);
	tconn_close(&late);
}

TEST(test_wait_timeout_then_ok_after_ack)
{
	struct tconn w, waiter;
	char line[256];
	uint32_t gen;

	/* The watcher belongs to "another process", else our WAIT would be EDEADLK. */
	tconn_open_foreign(&w, &t);
	tconn_open(&waiter, &t);
	tconn_u64(&w, "WATCH");
	/* Nobody outdated: OK at once. */
	assert_eq(tconn_u64(&waiter, "WAIT 0"), 0);
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	/* The error names who is late: the watcher's process. */
	tconn_request(&waiter, "WAIT 50", line, sizeof(line));
	{
		char want[128];

		snprintf(want, sizeof(want), "ERR ETIMEDOUT outdated watcher pids: %d",
			 (int)w.peer_pid);
		if (strcmp(line, want) != 0)
			test_fail("WAIT 50: got '%s', expected '%s'", line, want);
	}

	/* A forever-WAIT completes when the last watcher acks. */
	tconn_send(&waiter, "WAIT 0");
	assert_eq(tconn_line_timeout(&waiter, line, sizeof(line), 200), -ETIMEDOUT);
	snprintf(line, sizeof(line), "ACK %u", gen);
	tconn_u64(&w, line);
	tconn_line(&waiter, line, sizeof(line));
	assert_true(strcmp(line, "OK 0") == 0);

	/* ... or when the outdated watcher disconnects. */
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	tconn_send(&waiter, "WAIT 0");
	assert_eq(tconn_line_timeout(&waiter, line, sizeof(line), 200), -ETIMEDOUT);
	tconn_close(&w);
	tconn_line(&waiter, line, sizeof(line));
	assert_true(strcmp(line, "OK 0") == 0);
	/* Requests sent after a WAIT are answered after it, in order. */
	tconn_open_foreign(&w, &t);
	tconn_u64(&w, "WATCH");
	td_u64(&t, "TRIGGER");
	tconn_send_raw(&waiter, "WAIT 100\nOUTDATED\n", 18);
	tconn_line(&waiter, line, sizeof(line));
	assert_true(strncmp(line, "ERR ETIMEDOUT outdated watcher pids: ", 37) == 0);
	tconn_line(&waiter, line, sizeof(line));
	assert_true(strcmp(line, "OK 1") == 0);
	tconn_close(&w);
	tconn_close(&waiter);
}

TEST(test_wait_edeadlk_for_outdated_caller)
{
	struct tconn w, other, same_pid;
	char line[256];
	uint32_t gen;

	tconn_open(&w, &t);
	tconn_open_foreign(&other, &t);
	tconn_open(&same_pid, &t);
	tconn_u64(&w, "WATCH");
	/* A second watcher in another process keeps things outdated. */
	tconn_u64(&other, "WATCH");
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	/* The caller itself is an outdated watcher: EDEADLK at once, not a deadlock. */
	tconn_expect_prefix(&w, "WAIT 0", "ERR EDEADLK");
	/* Another connection of the same pid: its watcher connection is outdated. */
	tconn_expect_prefix(&same_pid, "WAIT 0", "ERR EDEADLK");

	snprintf(line, sizeof(line), "ACK %u", gen);
	tconn_u64(&w, line);
	tconn_u64(&other, line);
	/* A raise while waiting makes our own watcher outdated: EDEADLK, not a deadlock. */
	assert_eq(tconn_u64(&w, "OUTDATED"), 0);
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	snprintf(line, sizeof(line), "ACK %u", gen);
	tconn_u64(&w, line);
	/* Only the other process's watcher is outdated now: we wait for it. */
	tconn_send(&same_pid, "WAIT 0");
	assert_eq(tconn_line_timeout(&same_pid, line, sizeof(line), 100), -ETIMEDOUT);
	td_u64(&t, "TRIGGER");
	tconn_reply(&same_pid, line, sizeof(line));
	assert_true(strncmp(line, "ERR EDEADLK", 9) == 0);
	tconn_close(&w);
	tconn_close(&other);
	tconn_close(&same_pid);
}

TEST(test_trigger_min_gen)
{
	uint32_t gen = td_status(&t).generation;

	assert_eq(td_u64(&t, "TRIGGER 0"), gen + 1);
	assert_eq(td_u64(&t, "TRIGGER 1000"), 1000);
	/* min_gen below the current value still raises by one. */
	assert_eq(td_u64(&t, "TRIGGER 5"), 1001);
	assert_eq(td_u64(&t, "TRIGGER 1001"), 1002);
	assert_eq(td_status(&t).generation, 1002);
	assert_eq(td_status(&t).epoch_notifier, SNAPSAFE_NOTIFIER_CONTROL);
}

/*
 * A control request may not jump the generation into the last 2^20 values: the rest of
 * the boot's VM clones need them. The refused request changes nothing; the largest jump
 * allowed still works.
 */
TEST(test_trigger_min_gen_keeps_the_headroom)
{
	const struct snapsafe_page *p = td_map_page(&t);
	uint32_t gen = td_status(&t).generation, epoch = p->epoch;
	char want[32];

	tconn_expect_one(&t, "TRIGGER 4294967295",
			 "ERR ERANGE min-gen leaves fewer than 1048576 generations");
	tconn_expect_one(&t, "TRIGGER 4293918720",
			 "ERR ERANGE min-gen leaves fewer than 1048576 generations");
	assert_eq(td_status(&t).generation, gen);
	assert_eq(p->generation, gen);
	assert_eq(p->epoch, epoch);
	snprintf(want, sizeof(want), "TRIGGER %u", 4293918719u);
	assert_eq(td_u64(&t, want), 4293918719u);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
}

/*
 * RESUME is all or nothing: at the maximum generation it cannot raise, so it must not
 * end the quiesce either (libraries would serve from state a clone may share).
 */
TEST(test_resume_at_the_maximum_stays_quiesced)
{
	const struct snapsafe_page *p;
	struct td m;

	td_init(&m, t.binary);
	td_write_state(&m, "generation=4294967295\n");
	td_start_argv(&m, NULL);
	p = td_map_page(&m);
	assert_eq(td_u64(&m, "QUIESCE"), UINT32_MAX);
	{
		struct tconn c;
		char line[256];

		tconn_open(&c, &m);
		tconn_request(&c, "RESUME", line, sizeof(line));
		assert_eq(td_status(&m).quiesced, 1);
		if (strcmp(line, "ERR EOVERFLOW generation at its maximum: still quiesced") != 0)
			test_fail("RESUME at the maximum: got '%s'", line);
		tconn_close(&c);
	}
	assert_true(p->flags & SNAPSAFE_PAGE_QUIESCED);
	assert_eq(p->generation, UINT32_MAX);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
	td_stop_signal(&m, SIGTERM);
	td_cleanup(&m);
}

TEST(test_page_and_compat_follow)
{
	const struct snapsafe_page *p = td_map_page(&t);
	uint32_t gen, compat;
	uint64_t ge;
	int fd;

	assert_eq(p->magic, SNAPSAFE_PAGE_MAGIC);
	assert_eq(p->version, SNAPSAFE_PAGE_VERSION);
	assert_eq(p->header_size, sizeof(struct snapsafe_page));
	assert_true(p->flags & SNAPSAFE_PAGE_RUNNING);
	assert_eq(p->daemon_pid, t.pid);
	assert_true(p->live_notifiers & (1u << SNAPSAFE_NOTIFIER_CONTROL));

	gen = (uint32_t)td_u64(&t, "TRIGGER");
	ge = snapsafe_page_gen_epoch(p);
	assert_eq((uint32_t)ge, gen);
	assert_eq(SNAPSAFE_EPOCH_ID((uint32_t)(ge >> 32)), SNAPSAFE_NOTIFIER_CONTROL);
	assert_true(p->last_raise_ns != 0);

	fd = open(t.compat, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_eq(pread(fd, &compat, 4, 0), 4);
	assert_eq(compat, gen);
	{
		struct stat st;

		assert_eq(fstat(fd, &st), 0);
		assert_eq(st.st_size, 4096);
		assert_eq(st.st_mode & 07777, 0644);
	}
	close(fd);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
}

TEST(test_quiesce_resume)
{
	const struct snapsafe_page *p = td_map_page(&t);
	uint32_t gen = td_status(&t).generation, epoch;

	epoch = p->epoch;
	assert_eq(td_u64(&t, "QUIESCE"), gen);
	assert_true(p->flags & SNAPSAFE_PAGE_QUIESCED);
	assert_eq(td_status(&t).quiesced, 1);
	/* Same generation, new epoch. */
	assert_eq(p->generation, gen);
	assert_ne(p->epoch, epoch);
	assert_eq(td_u64(&t, "RESUME"), gen + 1);
	assert_true(!(p->flags & SNAPSAFE_PAGE_QUIESCED));
	assert_eq(td_status(&t).quiesced, 0);
	assert_eq(p->generation, gen + 1);
	munmap((void *)p, SNAPSAFE_PAGE_SIZE);
}

TEST(test_hello)
{
	struct tconn c;

	tconn_open(&c, &t);
	tconn_expect(&c, "HELLO 1", "OK 1");
	tconn_expect(&c, "HELLO 2", "ERR EPROTO unsupported version");
	/* Not a framing error: the connection stays usable. */
	tconn_expect(&c, "OUTDATED", "OK 0");
	tconn_close(&c);
}

/* Our own process name, as the daemon reads it from /proc (at most 15 bytes). */
static void own_comm(char comm[16])
{
	FILE *f = fopen("/proc/self/comm", "re");

	if (!f || !fgets(comm, 16, f))
		test_fail("cannot read /proc/self/comm");
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
}

/* STATUS names the daemon (pid, version) and who raised the generation last. */
TEST(test_status_names_the_daemon_and_the_last_raiser)
{
	struct protocol_status st;

	td_u64(&t, "TRIGGER");
	st = td_status(&t);
	assert_eq(st.daemon_pid, t.pid);
	assert_true(st.daemon_version[0] != '\0');
	assert_eq(st.raise_notifier, SNAPSAFE_NOTIFIER_CONTROL);
}

/*
 * The privileged requests leave an audit trail: who (pid, uid, process name), what, and
 * the generation; so do refusals.
 */
TEST(test_privileged_requests_and_refusals_are_logged_with_pid_uid_comm)
{
	char comm[16], line[160];
	unsigned before;
	uint32_t gen;

	own_comm(comm);
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	snprintf(line, sizeof(line), "TRIGGER by pid %d uid 0 comm %s: generation %u",
		 (int)getpid(), comm, gen);
	td_wait_log(&t, line, 0);
	snprintf(line, sizeof(line), "Refused TRIGGER from pid %d uid 0 comm %s: min-gen leaves",
		 (int)getpid(), comm);
	before = td_log_count(&t, line);
	tconn_expect_one(&t, "TRIGGER 4294967295",
			 "ERR ERANGE min-gen leaves fewer than 1048576 generations");
	td_wait_log(&t, line, before);
}

/* Read every page of WATCHERS. Return: how many entries; they go to @out. */
static unsigned read_watchers(struct protocol_watcher *out, unsigned max)
{
	struct tconn c;
	uint64_t start = 0, total = 0;
	unsigned n = 0, pages = 0;

	tconn_open(&c, &t);
	do {
		struct protocol_watchers ws;
		char req[32], line[PROTOCOL_REPLY_MAX];

		snprintf(req, sizeof(req), "WATCHERS %" PRIu64, start);
		tconn_request(&c, req, line, sizeof(line));
		if (strncmp(line, "OK ", 3) != 0 ||
		    protocol_watchers_parse(line + 3, strlen(line) - 3, &ws) < 0)
			test_fail("%s: got '%s'", req, line);
		assert_true(ws.next > start || ws.total == start);
		for (unsigned i = 0; i < ws.count && n < max; i++)
			out[n++] = ws.w[i];
		start = ws.next;
		total = ws.total;
		if (++pages > 1000)
			test_fail("WATCHERS never reached its end");
	} while (start < total);
	tconn_close(&c);
	return n;
}

/*
 * WATCHERS lists every watcher, page by page: its pid, uid, process name, acknowledged
 * generation, and how long it has been outdated (what an operator needs when
 * wait-watchers times out).
 */
TEST(test_watchers_lists_each_watcher_with_how_long_it_is_outdated)
{
	enum { N = 20 };
	struct tconn w[N];
	struct protocol_watcher got[N + 8];
	char comm[16], ack[32];
	unsigned n, outdated = 0;
	uint32_t gen;

	own_comm(comm);
	for (int i = 0; i < N; i++) {
		tconn_open(&w[i], &t);
		tconn_u64(&w[i], "WATCH");
	}
	gen = (uint32_t)td_u64(&t, "TRIGGER");
	snprintf(ack, sizeof(ack), "ACK %u", gen);
	for (int i = 0; i < N / 2; i++)
		tconn_u64(&w[i], ack);
	n = read_watchers(got, N + 8);
	assert_eq(n, N);
	for (unsigned i = 0; i < n; i++) {
		assert_eq(got[i].pid, getpid());
		assert_eq(got[i].uid, 0);
		assert_eq(strcmp(got[i].comm, comm), 0);
		if (got[i].acked == gen) {
			assert_eq(got[i].outdated_ms, 0);
		} else {
			assert_eq(got[i].acked, gen - 1);
			assert_true(got[i].outdated_ms > 0);
			outdated++;
		}
	}
	assert_eq(outdated, N / 2);
	for (int i = 0; i < N; i++)
		tconn_close(&w[i]);
}

static struct protocol_metrics metrics(void)
{
	struct protocol_metrics m;
	struct tconn c;
	char line[PROTOCOL_REPLY_MAX];

	tconn_open(&c, &t);
	tconn_request(&c, "METRICS", line, sizeof(line));
	if (strncmp(line, "OK ", 3) != 0 || protocol_metrics_parse(line + 3, strlen(line) - 3, &m) < 0)
		test_fail("METRICS: got '%s'", line);
	tconn_close(&c);
	return m;
}

/* METRICS counts raises and epochs per notifier, refusals and connections. */
TEST(test_metrics_count_raises_epochs_refusals_and_connections)
{
	struct protocol_metrics a = metrics(), b;

	td_u64(&t, "TRIGGER");
	tconn_expect_one(&t, "TRIGGER 4294967295",
			 "ERR ERANGE min-gen leaves fewer than 1048576 generations");
	td_u64(&t, "QUIESCE");
	td_u64(&t, "RESUME");
	b = metrics();
	assert_eq(b.raises[SNAPSAFE_NOTIFIER_CONTROL], a.raises[SNAPSAFE_NOTIFIER_CONTROL] + 2);
	assert_eq(b.epochs[SNAPSAFE_NOTIFIER_CONTROL], a.epochs[SNAPSAFE_NOTIFIER_CONTROL] + 3);
	assert_eq(b.refused_requests, a.refused_requests + 1);
	/* Five connections since the first METRICS: four requests and this one. */
	assert_eq(b.accepted, a.accepted + 5);
	assert_eq(b.clients, 1);
}

int main(int argc, char **argv)
{
	td_init(&t, argc > 1 ? argv[1] : NULL);
	td_start(&t, "--sysgenid-compat", t.compat);
	RUN(test_status_fresh_daemon);
	RUN(test_watch_read_ack);
	RUN(test_outdated_watcher_gets_gen_after_each_reply);
	RUN(test_outdated_counts_only_watchers_at_the_raise);
	RUN(test_wait_timeout_then_ok_after_ack);
	RUN(test_wait_edeadlk_for_outdated_caller);
	RUN(test_trigger_min_gen);
	RUN(test_resume_at_the_maximum_stays_quiesced);
	RUN(test_page_and_compat_follow);
	RUN(test_quiesce_resume);
	RUN(test_hello);
	RUN(test_status_names_the_daemon_and_the_last_raiser);
	RUN(test_privileged_requests_and_refusals_are_logged_with_pid_uid_comm);
	RUN(test_watchers_lists_each_watcher_with_how_long_it_is_outdated);
	RUN(test_metrics_count_raises_epochs_refusals_and_connections);
	/* Last: it takes the generation close to the maximum. */
	RUN(test_trigger_min_gen_keeps_the_headroom);
	return td_finish(&t);
}
