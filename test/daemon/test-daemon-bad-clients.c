/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon survives any client (docs/protocol.md, "Robustness"): malformed lines get ERR EINVAL
 * and the connection stays; an over-long line gets ERR E2BIG and binary garbage ERR
 * EPROTO, and only that connection is closed; silent connections and unfinished lines
 * cost the others nothing and are dropped after the idle timeout (watchers may idle);
 * a client that vanishes mid-request changes nothing; a client that pipelines requests
 * without reading the replies is throttled (nothing lost, nothing buffered for it), and a
 * watcher that never reads its GEN events is dropped at the output bound;
 * a peer that shut its reading side makes the daemon's send fail with EPIPE, which must
 * not kill it (SIGPIPE); thousands of concurrent clients are all served, and the one past
 * the connection limit gets ERR EMFILE; under a low RLIMIT_NOFILE a flood leaves the
 * daemon the descriptors it needs to persist a raise. After each, a normal client gets
 * right answers from a live daemon whose generation is what the test made it.
 * Usage: test-daemon-bad-clients SNAPSAFED
 */
#include <pthread.h>
#include <sys/resource.h>

#include "daemon-util.h"

enum {
	N_CONCURRENT	= 3500,		/* clients open at once (fds permitting) */
	SERVED_MS	= 5000,		/* "at once": well below the 10 s idle timeout */
};

static struct td t;
static uint32_t generation;	/* what the daemon's generation must be */

/* A normal client, served at once, and a live daemon with the expected generation. */
static void assert_daemon_serves(void)
{
	struct tconn c;
	char line[1024];
	struct protocol_status st;

	assert_true(td_alive(&t));
	tconn_open(&c, &t);
	tconn_send(&c, "HELLO 1");
	if (tconn_line_timeout(&c, line, sizeof(line), SERVED_MS) < 0)
		test_fail("a normal client was not served within %d ms", SERVED_MS);
	assert_eq(strcmp(line, "OK 1"), 0);
	st = tconn_status(&c);
	assert_eq(st.generation, generation);
	assert_eq(st.version, PROTOCOL_VERSION);
	tconn_close(&c);
}

/* Read until the daemon closes the connection; whatever came before EOF is in @buf. */
static bool read_until_eof(int fd, char *buf, size_t size, int timeout_ms)
{
	uint64_t deadline = td_now_ms() + (uint64_t)timeout_ms;
	size_t have = 0;
	char sink[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)deadline - (int64_t)td_now_ms();
		char *dst = have + 1 < size ? buf + have : sink;
		size_t room = have + 1 < size ? size - 1 - have : sizeof(sink);
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			have += (size_t)n;
	}
	if (size)
		buf[have < size ? have : size - 1] = '\0';
	return true;
}

/*
 * Send @len bytes on @c without ever blocking on the daemon, until all is sent or the
 * daemon closes the connection; whenever it takes no more, @other must still be served.
 * Return: the bytes sent.
 */
static size_t send_until_closed(struct tconn *c, const char *buf, size_t len, struct tconn *other)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS;
	size_t sent = 0;

	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	while (sent < len) {
		ssize_t n = send(c->fd, buf + sent, len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };

			tconn_expect(other, "OUTDATED", "OK 0");
			if (td_now_ms() > deadline)
				test_fail("snapsafed neither took more nor closed the connection");
			poll(&p, 1, 100);
			continue;
		}
		if (n < 0)
			break;	/* EPIPE/ECONNRESET: the daemon closed it */
		sent += (size_t)n;
	}
	fcntl(c->fd, F_SETFL, 0);
	return sent;
}

TEST(test_malformed_lines_get_einval_and_the_connection_stays)
{
	static const char *const bad[] = {
		"FOO", "", " ", "status", "STATUS ", " STATUS", "STATUS  ", "TRIGGER abc",
		"TRIGGER -1", "TRIGGER 4294967296", "TRIGGER 1 2", "TRIGGER 0x10", "ACK",
		"ACK 1 1", "WAIT", "WAIT 1 2", "HELLO", "OUTDATED 1", "WATCH 0",
		"TRIGGER 99999999999999999999999999",
	};
	struct tconn c;

	tconn_open(&c, &t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tconn_expect(&c, bad[i], "ERR EINVAL unknown request");
	/* A '\r' before the newline is allowed. */
	tconn_expect_prefix(&c, "STATUS\r", "OK version=1 ");
	tconn_close(&c);
	assert_daemon_serves();
}

TEST(test_oversized_line_gets_e2big_and_only_that_client_is_dropped)
{
	static char big[1 << 20];
	struct tconn c, other;
	char buf[PROTOCOL_LINE_MAX + 44];

	tconn_open(&other, &t);
	tconn_expect(&other, "OUTDATED", "OK 0");

	/* Just over the limit, with its newline. */
	tconn_open(&c, &t);
	memset(buf, 'A', sizeof(buf));
	buf[sizeof(buf) - 1] = '\n';
	tconn_send_raw(&c, buf, sizeof(buf));
	tconn_line(&c, buf, sizeof(buf));
	assert_eq(strcmp(buf, "ERR E2BIG line too long"), 0);
	assert_eq(tconn_line_timeout(&c, buf, sizeof(buf), TD_WAIT_MS), -ECONNRESET);
	tconn_close(&c);

	/* A megabyte without a newline: refused after the first bytes, never buffered whole. */
	tconn_open(&c, &t);
	memset(big, 'B', sizeof(big));
	assert_true(send_until_closed(&c, big, sizeof(big), &other) < sizeof(big));
	tconn_line(&c, buf, sizeof(buf));
	assert_eq(strcmp(buf, "ERR E2BIG line too long"), 0);
	tconn_close(&c);

	/* The other connection never noticed. */
	tconn_expect(&other, "OUTDATED", "OK 0");
	tconn_close(&other);
	assert_daemon_serves();
}

TEST(test_binary_garbage_gets_eproto_and_only_that_client_is_dropped)
{
	static const char garbage[] = "\x00\x01\xff\xfe\x7f GARBAGE \x80\x00\n";
	static const char nul_in_request[] = "STATUS\0\n";
	struct tconn c, w;
	char line[256];

	tconn_open(&w, &t);
	assert_eq(tconn_u64(&w, "WATCH"), generation);

	tconn_open(&c, &t);
	tconn_send_raw(&c, garbage, sizeof(garbage) - 1);
	tconn_line(&c, line, sizeof(line));
	assert_eq(strcmp(line, "ERR EPROTO invalid byte in request"), 0);
	assert_eq(tconn_line_timeout(&c, line, sizeof(line), TD_WAIT_MS), -ECONNRESET);
	tconn_close(&c);

	tconn_open(&c, &t);
	tconn_send_raw(&c, nul_in_request, sizeof(nul_in_request) - 1);
	tconn_line(&c, line, sizeof(line));
	assert_eq(strcmp(line, "ERR EPROTO invalid byte in request"), 0);
	tconn_close(&c);

	/* The watcher is still registered and still works. */
	assert_eq(td_status(&t).watchers, 1);
	tconn_expect_prefix(&w, "READ", "ERR EAGAIN");
	tconn_close(&w);
	assert_daemon_serves();
}

TEST(test_client_that_vanishes_mid_request_changes_nothing)
{
	struct tconn c, w;
	char line[1024];

	/* Half a privileged request, then gone: it must not be executed. */
	tconn_open(&c, &t);
	tconn_send_raw(&c, "TRIGGER", 7);
	tconn_close(&c);
	tconn_open(&c, &t);
	tconn_send_raw(&c, "TRIGGER 5000", 12);
	shutdown(c.fd, SHUT_WR);
	assert_eq(tconn_line_timeout(&c, line, sizeof(line), TD_WAIT_MS), -ECONNRESET);
	tconn_close(&c);

	/* A complete request and half of the next, then the sending side shut: one reply, EOF. */
	tconn_open(&c, &t);
	tconn_send_raw(&c, "OUTDATED\nOUTD", 13);
	shutdown(c.fd, SHUT_WR);
	tconn_line(&c, line, sizeof(line));
	assert_eq(strcmp(line, "OK 0"), 0);
	assert_eq(tconn_line_timeout(&c, line, sizeof(line), TD_WAIT_MS), -ECONNRESET);
	tconn_close(&c);

	/* A pending WAIT whose client dies; a watcher that dies with a partial line. */
	tconn_open_foreign(&w, &t);
	tconn_u64(&w, "WATCH");
	assert_eq(td_u64(&t, "TRIGGER"), ++generation);
	tconn_open(&c, &t);
	tconn_send(&c, "WAIT 0");
	tconn_send_raw(&w, "ACK", 3);
	assert_eq(tconn_line_timeout(&c, line, sizeof(line), 100), -ETIMEDOUT);
	tconn_close(&c);
	tconn_close(&w);
	for (int i = 0; i < 1000 && td_status(&t).watchers != 0; i++)
		td_sleep_ms(10);
	assert_eq(td_status(&t).watchers, 0);
	assert_eq(td_u64(&t, "OUTDATED"), 0);
	assert_daemon_serves();
}

TEST(test_sigpipe_never_kills_the_daemon)
{
	struct tconn c, w;

	unsigned failed = td_log_count(&t, "dropped: send failed");

	/* Our reading side shut: the daemon's reply send fails with EPIPE. */
	tconn_open(&c, &t);
	assert_eq(shutdown(c.fd, SHUT_RD), 0);
	tconn_send(&c, "STATUS");
	td_wait_log(&t, "dropped: send failed", failed);
	assert_true(td_alive(&t));
	tconn_close(&c);

	/* And an event to a watcher that shut its reading side. */
	tconn_open(&w, &t);
	tconn_u64(&w, "WATCH");
	assert_eq(shutdown(w.fd, SHUT_RD), 0);
	assert_eq(td_u64(&t, "TRIGGER"), ++generation);
	td_wait_log(&t, "dropped: send failed", failed + 1);
	assert_true(td_alive(&t));
	tconn_close(&w);
	assert_daemon_serves();
}

TEST(test_silent_clients_cost_nothing_and_time_out)
{
	enum { SILENT = 200, PARTIAL = 20 };
	static int fds[SILENT + PARTIAL];
	struct tconn w;
	char buf[64];
	uint64_t start = td_now_ms();

	/* A watcher may idle for ever: it must outlive the silent ones. */
	tconn_open(&w, &t);
	assert_eq(tconn_u64(&w, "WATCH"), generation);
	for (int i = 0; i < SILENT + PARTIAL; i++) {
		fds[i] = td_connect_once(t.sock);
		assert_true(fds[i] >= 0);
		/* Unfinished lines, some with NULs: no newline, no framing error yet. */
		if (i >= SILENT)
			assert_eq(send(fds[i], i % 2 ? "STAT" : "\0\0x\0", 4, MSG_NOSIGNAL), 4);
	}
	assert_daemon_serves();
	/* Dropped after the 10 s idle timeout (plus one sweep), not before it's due. */
	for (int i = 0; i < SILENT + PARTIAL; i++) {
		if (!read_until_eof(fds[i], buf, sizeof(buf), 3 * PROTOCOL_IDLE_TIMEOUT_MS))
			test_fail("silent client %d was never dropped", i);
		assert_eq(buf[0], '\0');
		close(fds[i]);
	}
	assert_true(td_now_ms() - start >= PROTOCOL_IDLE_TIMEOUT_MS);
	assert_eq(td_status(&t).watchers, 1);
	tconn_expect_prefix(&w, "READ", "ERR EAGAIN");
	tconn_close(&w);
	assert_daemon_serves();
}

/* A client that sends request after request and never reads a reply. */
struct pipeline {
	int fd;
	const char *buf;
	size_t len;
	int error;
};

static void *pipeline_send(void *arg)
{
	struct pipeline *p = arg;
	size_t sent = 0;

	while (sent < p->len) {
		ssize_t n = send(p->fd, p->buf + sent, p->len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p->error = errno;
			break;
		}
		sent += (size_t)n;
	}
	return NULL;
}

/*
 * A client that pipelines requests without reading the replies is throttled, not buffered
 * for: the daemon stops reading it while its replies wait, serves everyone else, and
 * when the client reads at last, every reply is there, in order.
 */
TEST(test_client_that_pipelines_without_reading_is_throttled_and_loses_nothing)
{
	enum { LINES = 40000 };
	static char lines[LINES * 7];
	struct pipeline p = { .buf = lines, .len = sizeof(lines) };
	struct tconn c, other;
	char line[1024];
	pthread_t th;

	for (size_t i = 0; i < sizeof(lines); i += 7)
		memcpy(lines + i, "STATUS\n", 7);
	tconn_open(&other, &t);
	tconn_open(&c, &t);
	p.fd = c.fd;
	if (pthread_create(&th, NULL, pipeline_send, &p) != 0)
		test_fail("pthread_create");
	/* Far more than the daemon's per-client output limit is asked for, and nobody reads. */
	for (int i = 0; i < 20; i++)
		tconn_expect(&other, "OUTDATED", "OK 0");
	for (unsigned i = 0; i < LINES; i++) {
		tconn_line(&c, line, sizeof(line));
		if (strncmp(line, "OK version=", 11) != 0)
			test_fail("reply %u: got '%s'", i, line);
	}
	pthread_join(th, NULL);
	assert_eq(p.error, 0);
	assert_eq(td_log_count(&t, "output limit exceeded"), 0);
	tconn_close(&c);
	tconn_expect(&other, "OUTDATED", "OK 0");
	tconn_close(&other);
	assert_daemon_serves();
}

/* A watcher that never reads its GEN events, through thousands of raises. */
TEST(test_watcher_that_never_reads_events_is_dropped)
{
	enum { BATCH = 500, MAX_RAISES = 40000 };
	static char lines[BATCH * 8];
	struct tconn w, ctl, good;
	unsigned dropped = td_log_count(&t, "output limit exceeded");
	char line[256];
	int raises = 0;

	for (int i = 0; i < BATCH; i++)
		memcpy(lines + i * 8, "TRIGGER\n", 8);
	tconn_open(&w, &t);
	assert_eq(tconn_u64(&w, "WATCH"), generation);
	tconn_open(&good, &t);
	assert_eq(tconn_u64(&good, "WATCH"), generation);
	tconn_open(&ctl, &t);
	while (td_log_count(&t, "output limit exceeded") == dropped) {
		if (raises >= MAX_RAISES)
			test_fail("a watcher that never reads survived %d raises", raises);
		tconn_send_raw(&ctl, lines, sizeof(lines));
		for (int i = 0; i < BATCH; i++)
			assert_eq(tconn_u64_reply(&ctl), ++generation);
		raises += BATCH;
		/* The good watcher reads its events and keeps up. */
		while (tconn_line_timeout(&good, line, sizeof(line), 0) > 0)
			;
	}
	assert_true(read_until_eof(w.fd, NULL, 0, TD_WAIT_MS));
	tconn_close(&w);
	/* The good watcher is still there and is told the current generation. */
	snprintf(line, sizeof(line), "ACK %u", generation);
	assert_eq(tconn_u64(&good, line), generation);
	assert_eq(td_status(&t).watchers, 1);
	tconn_close(&good);
	tconn_close(&ctl);
	assert_daemon_serves();
}

TEST(test_thousands_of_concurrent_clients_are_all_served)
{
	static struct tconn c[PROTOCOL_MAX_CLIENTS + 1];
	struct rlimit rl;
	int n = N_CONCURRENT, watchers = 0, accepted;
	char line[1024], want[64];

	assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 64) {
		n = (int)rl.rlim_cur - 64;
		fprintf(stderr, "RLIMIT_NOFILE %llu: %d clients only\n",
			(unsigned long long)rl.rlim_cur, n);
	}
	for (int i = 0; i < n; i++)
		tconn_open(&c[i], &t);
	/* Every one asks, then every one gets its answer. */
	for (int i = 0; i < n; i++)
		tconn_send(&c[i], i % 3 == 0 ? "WATCH" : "STATUS");
	for (int i = 0; i < n; i++) {
		tconn_line(&c[i], line, sizeof(line));
		if (i % 3 == 0) {
			snprintf(want, sizeof(want), "OK %u", generation);
			assert_eq(strcmp(line, want), 0);
			watchers++;
		} else {
			assert_eq(strncmp(line, "OK version=1 ", 13), 0);
		}
	}
	assert_eq(td_status(&t).watchers, watchers);
	assert_eq(td_u64(&t, "TRIGGER"), ++generation);
	assert_eq(td_u64(&t, "OUTDATED"), watchers);
	snprintf(want, sizeof(want), "GEN %u", generation);
	for (int i = 0; i < n; i += 3) {
		tconn_line(&c[i], line, sizeof(line));
		assert_eq(strcmp(line, want), 0);
		snprintf(line, sizeof(line), "ACK %u", generation);
		assert_eq(tconn_u64(&c[i], line), generation);
	}
	assert_eq(td_u64(&t, "OUTDATED"), 0);

	/* Up to the limit, then ERR EMFILE for the one too many. */
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= PROTOCOL_MAX_CLIENTS + 64) {
		for (accepted = n; accepted <= PROTOCOL_MAX_CLIENTS; accepted++) {
			tconn_open(&c[accepted], &t);
			/* The one refused may be closed before this send: ignore EPIPE. */
			if (send(c[accepted].fd, "OUTDATED\n", 9, MSG_NOSIGNAL) < 0 && errno != EPIPE)
				test_fail("send: %s", strerror(errno));
			tconn_line(&c[accepted], line, sizeof(line));
			if (strcmp(line, "OK 0") != 0)
				break;
		}
		assert_eq(accepted, PROTOCOL_MAX_CLIENTS);
		assert_eq(strcmp(line, "ERR EMFILE too many clients"), 0);
		assert_eq(tconn_line_timeout(&c[accepted], line, sizeof(line), TD_WAIT_MS),
			  -ECONNRESET);
		tconn_close(&c[accepted]);
	} else {
		accepted = n;
		fprintf(stderr, "RLIMIT_NOFILE too low to reach the %d-client limit\n",
			PROTOCOL_MAX_CLIENTS);
	}
	for (int i = 0; i < accepted; i++)
		tconn_close(&c[i]);
	for (int i = 0; i < 1000 && td_status(&t).watchers != 0; i++)
		td_sleep_ms(10);
	assert_eq(td_status(&t).watchers, 0);
	assert_daemon_serves();
}

/*
 * A daemon with few descriptors (RLIMIT_NOFILE 64, soft and hard): a flood of clients
 * is refused with ERR EMFILE before it takes the descriptors the daemon needs for its
 * own work. Afterwards a TRIGGER still gets its generation persisted in the state file
 * (which needs a descriptor to write), not only published.
 */
TEST(test_client_flood_leaves_the_daemon_descriptors_for_its_own_work)
{
	enum { NOFILE = 64, FLOOD = 100 };
	static struct tconn c[FLOOD];
	char line[256], state[400], want[64];
	int served = 0, refused = 0, kept = -1;
	struct td f;
	uint64_t g;

	td_init(&f, t.binary);
	f.nofile = NOFILE;
	td_start_argv(&f, NULL);
	for (int i = 0; i < FLOOD; i++) {
		tconn_open(&c[i], &f);
		if (send(c[i].fd, "OUTDATED\n", 9, MSG_NOSIGNAL) < 0 && errno != EPIPE)
			test_fail("send: %s", strerror(errno));
		tconn_line(&c[i], line, sizeof(line));
		if (strcmp(line, "OK 0") == 0) {
			served++;
			kept = i;
		} else if (strcmp(line, "ERR EMFILE too many clients") == 0) {
			refused++;
			tconn_close(&c[i]);
		} else {
			test_fail("client %d: '%s'", i, line);
		}
	}
	fprintf(stderr, "%d served, %d refused\n", served, refused);
	assert_true(served > 0 && refused > 0);
	assert_true(td_alive(&f));

	/* One slot free again: the control plane raises, and the raise is on disk. */
	tconn_close(&c[kept]);
	g = td_u64(&f, "TRIGGER");
	snprintf(state, sizeof(state), "%s/state", f.rt);
	snprintf(want, sizeof(want), "generation=%llu\n", (unsigned long long)g);
	{
		char buf[1024] = "";
		int fd = open(state, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
		close(fd);
		if (strncmp(buf, want, strlen(want)) != 0)
			test_fail("state file holds '%.*s', expected '%s'", (int)strcspn(buf, "\n"),
				  buf, want);
	}
	for (int i = 0; i < FLOOD; i++)
		if (i != kept && c[i].fd >= 0)
			tconn_close(&c[i]);
	td_cleanup(&f);
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	/* Both ends need a descriptor per client; the daemon inherits this limit too. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	td_init(&t, argc > 1 ? argv[1] : NULL);
	td_start_argv(&t, NULL);
	generation = td_status(&t).generation;
	RUN(test_malformed_lines_get_einval_and_the_connection_stays);
	RUN(test_oversized_line_gets_e2big_and_only_that_client_is_dropped);
	RUN(test_binary_garbage_gets_eproto_and_only_that_client_is_dropped);
	RUN(test_client_that_vanishes_mid_request_changes_nothing);
	RUN(test_sigpipe_never_kills_the_daemon);
	RUN(test_client_that_pipelines_without_reading_is_throttled_and_loses_nothing);
	RUN(test_watcher_that_never_reads_events_is_dropped);
	RUN(test_thousands_of_concurrent_clients_are_all_served);
	RUN(test_client_flood_leaves_the_daemon_descriptors_for_its_own_work);
	RUN(test_silent_clients_cost_nothing_and_time_out);
	assert_daemon_serves();
	return td_finish(&t);
}
