/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * No user can lock the control plane out, and no client can make the daemon's memory
 * grow (docs/daemon.md, "Connections"): one user other than root holds at most
 * --max-clients-per-uid connections (default 256) and the next gets "ERR EMFILE too many
 * connections of this user" while other users still get in; the last --reserved-clients
 * slots are for privileged peers only, so that with the general slots full of other
 * users' watchers an unprivileged connection is refused ("kept for privileged peers")
 * while root and a peer with an ambient CAP_CHECKPOINT_RESTORE still trigger, up to
 * --max-clients ("too many clients"); and a thousand connections that pipeline requests
 * without reading the replies are throttled: the daemon's resident memory grows by a
 * bounded amount, none is dropped, and each gets every reply, in order, once it reads.
 * Connections of other users are made by a child that drops to that uid (the kernel
 * records the peer at connect time) and handed back over SCM_RIGHTS. Needs root.
 * Usage: test-daemon-limits SNAPSAFED SNAPSAFECTL
 */
#include <grp.h>

#include "daemon-util.h"

enum {
	NOBODY			= 65534,
	PER_UID_DEFAULT		= 256,
	/* The small daemon of the reserved-slot test. */
	SMALL_MAX		= 60,
	SMALL_PER_UID		= 20,
	SMALL_RESERVED		= 10,
	FD_BATCH		= 200,	/* descriptors per SCM_RIGHTS message (the kernel takes 253) */
	/* The memory test. */
	MEM_CONNS		= 1000,
	MEM_PAIRS		= 1024,		/* "STATUS\nHELLO 1\n" pairs each connection sends */
	MEM_CHUNK_PAIRS		= 128,
	MEM_CLIENT_SNDBUF	= 4096,
	MEM_STALL_MS		= 300,		/* no connection writable this long: all throttled */
	MEM_PUSH_MS		= 30000,
	MEM_GROWTH_MAX_KB	= 24 << 10,
	MEM_READ_BACK_EVERY	= 100,		/* every 100th connection reads all its replies */
};

static const char pair[] = "STATUS\nHELLO 1\n";
#define PAIR_LEN (sizeof(pair) - 1)

static const char *snapsafed, *snapsafectl;

static const char reason_per_uid[] = "ERR EMFILE too many connections of this user";
static const char reason_reserved[] =
	"ERR EMFILE too many clients (the rest are kept for privileged peers)";
static const char reason_full[] = "ERR EMFILE too many clients";

static void drop_to(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		test_fail("cannot drop to uid %u: %s", (unsigned)uid, strerror(errno));
}

static void send_fds(int sock, const int *fds, int n)
{
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_BATCH)];
	} u = {};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	if (sendmsg(sock, &mh, 0) != 1)
		test_fail("sendmsg: %s", strerror(errno));
}

/* Return: how many descriptors one message brought (into @fds, at most @max). */
static int recv_fds(int sock, int *fds, int max)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * FD_BATCH)];
	} u = {};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int n;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		test_fail("recvmsg: %s", strerror(errno));
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    (mh.msg_flags & MSG_CTRUNC))
		test_fail("no descriptors received");
	n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	if (n > max)
		test_fail("%d descriptors received, expected at most %d", n, max);
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)n);
	return n;
}

/*
 * connect_as() - @n connections to @t's daemon whose peer is @uid: a child drops to it,
 * connects (blocking: each is in the daemon's backlog when connect returns, in order)
 * and hands them back.
 */
static void connect_as(const struct td *t, uid_t uid, int n, struct tconn *c)
{
	int sp[2], status, fds[FD_BATCH];
	pid_t pid;

	assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sp[0]);
		drop_to(uid);
		for (int i = 0; i < n;) {
			int k = n - i < FD_BATCH ? n - i : FD_BATCH;

			for (int j = 0; j < k; j++) {
				fds[j] = td_connect_once(t->sock);
				if (fds[j] < 0)
					test_fail("connect as uid %u: %s", (unsigned)uid, strerror(errno));
			}
			send_fds(sp[1], fds, k);
			for (int j = 0; j < k; j++)
				close(fds[j]);
			i += k;
		}
		_exit(0);
	}
	close(sp[1]);
	for (int i = 0; i < n;) {
		int k = recv_fds(sp[0], fds, n - i < FD_BATCH ? n - i : FD_BATCH);

		for (int j = 0; j < k; j++)
			c[i + j] = (struct tconn) { .fd = fds[j], .peer_pid = pid };
		i += k;
	}
	close(sp[0]);
	assert_eq(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail("the child connecting as uid %u failed", (unsigned)uid);
}

/* @n watchers of @uid, each registered ("OK <gen>"), so that none is dropped as idle. */
static void watchers_as(const struct td *t, uid_t uid, int n, struct tconn *c, uint32_t gen)
{
	char want[32];

	connect_as(t, uid, n, c);
	snprintf(want, sizeof(want), "OK %u", gen);
	for (int i = 0; i < n; i++)
		tconn_send(&c[i], "WATCH");
	for (int i = 0; i < n; i++) {
		char line[256];

		tconn_reply(&c[i], line, sizeof(line));
		if (strcmp(line, want) != 0)
			test_fail("watcher %d of uid %u: WATCH got '%s', expected '%s'", i,
				  (unsigned)uid, line, want);
	}
}

/*
 * One connection of @uid must be refused with @reason: the one line, then EOF. (It asks
 * something, so that a daemon that lets it in answers instead of keeping quiet.)
 */
static void assert_refused(const struct td *t, uid_t uid, const char *reason)
{
	struct tconn c;
	char line[256];

	connect_as(t, uid, 1, &c);
	if (send(c.fd, "HELLO 1\n", 8, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		test_fail("send: %s", strerror(errno));
	if (tconn_line_timeout(&c, line, sizeof(line), TD_WAIT_MS) < 0)
		test_fail("uid %u: no line, expected '%s'", (unsigned)uid, reason);
	if (strcmp(line, reason) != 0)
		test_fail("uid %u: got '%s', expected '%s'", (unsigned)uid, line, reason);
	assert_eq(tconn_line_timeout(&c, line, sizeof(line), TD_WAIT_MS), -ECONNRESET);
	tconn_close(&c);
}

/* One connection of @uid gets in and is served. */
static void assert_served(const struct td *t, uid_t uid)
{
	struct tconn c;

	connect_as(t, uid, 1, &c);
	tconn_expect_prefix(&c, "STATUS", "OK version=1 ");
	tconn_close(&c);
}

static void close_all(struct tconn *c, int n)
{
	for (int i = 0; i < n; i++)
		tconn_close(&c[i]);
}

/* Poll STATUS until the daemon counts @n watchers (it handles hang-ups in its own time). */
static void wait_watchers(const struct td *t, uint64_t n)
{
	uint64_t deadline = td_now_ms() + TD_WAIT_MS, have;

	while ((have = td_status(t).watchers) != n) {
		if (td_now_ms() > deadline)
			test_fail("the daemon counts %llu watchers, expected %llu",
				  (unsigned long long)have, (unsigned long long)n);
		td_sleep_ms(10);
	}
}

TEST(test_one_user_holds_at_most_max_clients_per_uid)
{
	static struct tconn c[PER_UID_DEFAULT];
	struct td t;

	/* The defaults: 256 connections of any one user but root. */
	td_init(&t, snapsafed);
	td_start_argv(&t, NULL);
	watchers_as(&t, NOBODY, PER_UID_DEFAULT, c, 0);
	assert_refused(&t, NOBODY, reason_per_uid);
	/* Others are not affected: another user, and root. */
	assert_served(&t, NOBODY - 1);
	assert_eq(td_status(&t).watchers, PER_UID_DEFAULT);
	/* One of nobody's connections closes: nobody gets that one back. */
	tconn_close(&c[0]);
	wait_watchers(&t, PER_UID_DEFAULT - 1);
	assert_served(&t, NOBODY);
	close_all(c, PER_UID_DEFAULT);
	wait_watchers(&t, 0);
	td_finish(&t);
}

/*
 * --max-clients 60 --max-clients-per-uid 20 --reserved-clients 10: three users fill the
 * 50 general slots with watchers (each under its own limit); the last 10 are for root,
 * the control group and ambient CAP_CHECKPOINT_RESTORE only.
 */
TEST(test_reserved_slots_keep_the_control_plane_reachable)
{
	static const char *const nobody_with_cap[] = {
		"--reuid=65530", "--regid=65530", "--clear-groups",
		"--inh-caps=+checkpoint_restore", "--ambient-caps=+checkpoint_restore", NULL,
	};
	static struct tconn w[SMALL_MAX - SMALL_RESERVED], root[SMALL_RESERVED + 1];
	char max[16], per_uid[16], reserved[16], out[256];
	struct tconn *next = w;
	int nroot = 0, rc;
	struct td t;

	snprintf(max, sizeof(max), "%d", SMALL_MAX);
	snprintf(per_uid, sizeof(per_uid), "%d", SMALL_PER_UID);
	snprintf(reserved, sizeof(reserved), "%d", SMALL_RESERVED);
	td_init(&t, snapsafed);
	td_start(&t, "--max-clients", max, "--max-clients-per-uid", per_uid, "--reserved-clients",
		 reserved);

	/* A user at its own limit. */
	watchers_as(&t, NOBODY, SMALL_PER_UID, next, 0);
	next += SMALL_PER_UID;
	assert_refused(&t, NOBODY, reason_per_uid);
	assert_served(&t, NOBODY - 1);
	/* The general slots fill up. */
	watchers_as(&t, NOBODY - 1, SMALL_PER_UID, next, 0);
	next += SMALL_PER_UID;
	watchers_as(&t, NOBODY - 2, SMALL_MAX - SMALL_RESERVED - 2 * SMALL_PER_UID, next, 0);
	assert_eq(td_status(&t).watchers, SMALL_MAX - SMALL_RESERVED);
	/* Below its own limit, and a new user: both refused, the rest is reserved. */
	assert_refused(&t, NOBODY - 2, reason_reserved);
	assert_refused(&t, NOBODY - 3, reason_reserved);
	assert_refused(&t, NOBODY - 4, reason_reserved);

	/* Root gets in and may trigger. */
	tconn_open(&root[nroot], &t);
	assert_eq(tconn_status(&root[nroot]).watchers, SMALL_MAX - SMALL_RESERVED);
	assert_eq(tconn_u64(&root[nroot], "TRIGGER"), 1);
	nroot++;
	/* So does a non-root peer with an ambient CAP_CHECKPOINT_RESTORE. */
	rc = td_ctl_as(&t, snapsafectl, nobody_with_cap, "trigger", out, sizeof(out));
	if (rc != 0 || strcmp(out, "2\n") != 0)
		test_fail("snapsafectl trigger with an ambient CAP_CHECKPOINT_RESTORE: exit %d, "
			  "printed '%s', expected exit 0 and '2'", rc, out);
	assert_eq(td_ctl_as(&t, snapsafectl, nobody_with_cap, "status", out, sizeof(out)), 0);
	assert_eq(td_status(&t).generation, 2);

	/* Root takes the rest of the slots; then the daemon is full, for root too. */
	for (; nroot < SMALL_RESERVED; nroot++) {
		tconn_open(&root[nroot], &t);
		tconn_expect(&root[nroot], "HELLO 1", "OK 1");
	}
	tconn_open(&root[nroot], &t);
	if (send(root[nroot].fd, "HELLO 1\n", 8, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		test_fail("send: %s", strerror(errno));
	{
		char line[256];

		if (tconn_line_timeout(&root[nroot], line, sizeof(line), TD_WAIT_MS) < 0)
			test_fail("root past --max-clients: no line, expected '%s'", reason_full);
		if (strcmp(line, reason_full) != 0)
			test_fail("root past --max-clients: got '%s', expected '%s'", line,
				  reason_full);
	}
	tconn_close(&root[nroot]);
	/* One slot free again: root is let in. */
	tconn_close(&root[0]);
	tconn_open(&root[0], &t);
	tconn_expect(&root[0], "HELLO 1", "OK 1");
	/* (Asked on root's connection: the daemon is full again.) */
	assert_eq(tconn_status(&root[0]).watchers, SMALL_MAX - SMALL_RESERVED);
	close_all(root, SMALL_RESERVED);
	close_all(w, SMALL_MAX - SMALL_RESERVED);
	wait_watchers(&t, 0);
	td_finish(&t);
}

/* A line of /proc/@pid/status ("VmRSS:", "VmHWM:") in KiB. */
static long proc_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		test_fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			kb = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	if (kb < 0)
		test_fail("no %s in %s", key, path);
	return kb;
}

/* The pipeline: MEM_PAIRS pairs, sent from where @sent left off (lines may be split). */
static char pipeline[PAIR_LEN * (MEM_CHUNK_PAIRS + 1)];

static ssize_t send_more(int fd, size_t sent)
{
	size_t left = PAIR_LEN * MEM_PAIRS - sent, len = PAIR_LEN * MEM_CHUNK_PAIRS;

	return send(fd, pipeline + sent % PAIR_LEN, left < len ? left : len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Reply @i of a connection that sent the pairs: STATUS, HELLO, STATUS, ... */
static void check_reply(int conn, unsigned i, const char *line)
{
	if (i % 2 == 0 ? strncmp(line, "OK version=1 ", 13) != 0 : strcmp(line, "OK 1") != 0)
		test_fail("connection %d, reply %u: got '%s', expected %s", conn, i, line,
			  i % 2 == 0 ? "'OK version=1 ...'" : "'OK 1'");
}

/*
 * A thousand connections (root's: no per-user limit) each pipeline requests without
 * reading a reply, until the daemon takes no more from any of them. The daemon stops
 * reading a connection whose reply waits: it holds one reply per connection, not every
 * reply up to the output limit, and drops none. Then each connection still gets its
 * replies in order: every 100th reads all of them (sending the rest of its pipeline as
 * it reads), every other one its first.
 */
TEST(test_pipelining_clients_cost_the_daemon_bounded_memory)
{
	static struct tconn c[MEM_CONNS];
	static size_t sent[MEM_CONNS];
	static struct pollfd pfd[MEM_CONNS];
	uint64_t deadline;
	long rss0, hwm;
	unsigned dropped = 0, first_dropped = 0;
	int sndbuf = MEM_CLIENT_SNDBUF;
	size_t total = 0;
	struct td t;

	for (size_t i = 0; i < sizeof(pipeline); i += PAIR_LEN)
		memcpy(pipeline + i, pair, PAIR_LEN);
	td_init(&t, snapsafed);
	td_start_argv(&t, NULL);
	rss0 = proc_kb(t.pid, "VmRSS:");
	for (int i = 0; i < MEM_CONNS; i++) {
		tconn_open(&c[i], &t);
		/* Our own kernel memory: what waits unread in each of our sockets. */
		if (setsockopt(c[i].fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
			test_fail("SO_SNDBUF: %s", strerror(errno));
	}

	/* Push until every connection is throttled (or has sent everything). */
	deadline = td_now_ms() + MEM_PUSH_MS;
	for (;;) {
		int waiting = 0;

		for (int i = 0; i < MEM_CONNS; i++) {
			while (c[i].fd >= 0 && sent[i] < PAIR_LEN * MEM_PAIRS) {
				ssize_t n = send_more(c[i].fd, sent[i]);

				if (n > 0) {
					sent[i] += (size_t)n;
					continue;
				}
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				/* EPIPE, ECONNRESET: the daemon closed it. */
				if (!dropped++)
					first_dropped = (unsigned)i;
				tconn_close(&c[i]);
			}
			if (c[i].fd >= 0 && sent[i] < PAIR_LEN * MEM_PAIRS)
				pfd[waiting++] = (struct pollfd) { .fd = c[i].fd, .events = POLLOUT };
		}
		if (dropped)
			break;
		if (waiting == 0 || poll(pfd, (nfds_t)waiting, MEM_STALL_MS) == 0)
			break;
		if (td_now_ms() > deadline)
			test_fail("the daemon kept taking requests from pipelining clients for %d ms",
				  MEM_PUSH_MS);
	}
	for (int i = 0; i < MEM_CONNS; i++)
		total += sent[i];
	hwm = proc_kb(t.pid, "VmHWM:");
	fprintf(stderr, "%d connections sent %zu requests in all (the first %zu bytes, the last "
		"%zu); daemon VmRSS %ld KiB before, VmHWM %ld KiB now\n", MEM_CONNS,
		total / PAIR_LEN * 2, sent[0], sent[MEM_CONNS - 1], rss0, hwm);
	if (dropped)
		test_fail("the daemon dropped %u pipelining connections (the first: %u, after %zu "
			  "bytes of requests; %u 'slow reader' lines in %s)", dropped,
			  first_dropped, sent[first_dropped], td_log_count(&t, "slow reader"), t.log);
	if (hwm - rss0 > MEM_GROWTH_MAX_KB)
		test_fail("the daemon's memory grew by %ld KiB for %d pipelining clients (at most "
			  "%d KiB expected)", hwm - rss0, MEM_CONNS, MEM_GROWTH_MAX_KB);
	assert_eq(td_log_count(&t, "slow reader"), 0);

	/* Every connection is still there; every 100th reads everything, in order. */
	for (int i = 0; i < MEM_CONNS; i++) {
		char line[1024];

		if (i % MEM_READ_BACK_EVERY != 0) {
			tconn_line(&c[i], line, sizeof(line));
			check_reply(i, 0, line);
			continue;
		}
		fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
		for (unsigned r = 0; r < 2 * MEM_PAIRS; r++) {
			while (sent[i] < PAIR_LEN * MEM_PAIRS) {
				ssize_t n = send_more(c[i].fd, sent[i]);

				if (n < 0 && errno != EAGAIN && errno != EINTR)
					test_fail("connection %d: send: %s", i, strerror(errno));
				if (n <= 0)
					break;
				sent[i] += (size_t)n;
			}
			if (tconn_line_timeout(&c[i], line, sizeof(line), TD_WAIT_MS) < 0)
				test_fail("connection %d: no reply %u of %d", i, r, 2 * MEM_PAIRS);
			check_reply(i, r, line);
		}
		assert_eq(tconn_line_timeout(&c[i], line, sizeof(line), 0), -ETIMEDOUT);
	}
	assert_eq(td_log_count(&t, "slow reader"), 0);
	close_all(c, MEM_CONNS);
	td_status(&t);
	assert_true(td_alive(&t));
	td_finish(&t);
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc != 3)
		test_fail("usage: %s SNAPSAFED SNAPSAFECTL", argv[0]);
	if (geteuid() != 0)
		test_skip("needs root to connect as other users");
	snapsafed = argv[1];
	snapsafectl = argv[2];
	/* A thousand connections at once, and the daemon inherits the limit too. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MEM_CONNS + 100)
		test_skip("RLIMIT_NOFILE %llu is too low for %d connections",
			  (unsigned long long)rl.rlim_cur, MEM_CONNS);
	RUN(test_one_user_holds_at_most_max_clients_per_uid);
	RUN(test_reserved_slots_keep_the_control_plane_reachable);
	RUN(test_pipelining_clients_cost_the_daemon_bounded_memory);
	return 0;
}
