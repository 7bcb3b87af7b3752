/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * src/lib/client.c on its own, against a socketpair that plays the daemon: replies are read
 * up to their newline and not a byte further, GEN lines before a reply are skipped, ERR maps
 * to the named errno, partial lines, end of file and a vanished peer give clean errors (and
 * no SIGPIPE: this test leaves SIGPIPE at its default, so a missing MSG_NOSIGNAL kills it).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "test.h"

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		test_fail("socketpair: %s", strerror(errno));
}

static void put(int fd, const char *s)
{
	assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* What is left in the socket, without blocking. */
static void assert_left(int fd, const char *expect)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (strcmp(buf, expect) != 0)
		test_fail("left in socket: '%s', expected '%s'", buf, expect);
}

TEST(test_reply_skips_earlier_events_and_leaves_later_ones)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int sv[2];

	pair(sv);
	put(sv[1], "GEN 4\nGEN 5\nOK 7\nGEN 7\n");
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), 0);
	assert_true(l.has_value);
	assert_eq(l.value, 7);
	/* The event after the reply stays: it keeps a watcher's fd readable. */
	assert_left(sv[0], "GEN 7\n");
	close(sv[0]);
	close(sv[1]);
}

TEST(test_err_maps_to_negative_errno)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int sv[2];

	pair(sv);
	put(sv[1], "ERR ETIMEDOUT timed out\nERR EINTR\nERR ENOSUCHERRNO x\nHELLO\nOK\r\n");
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -ETIMEDOUT);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -EINTR);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -EPROTO);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -EPROTO);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), 0);
	assert_true(!l.has_value);
	assert_left(sv[0], "");
	close(sv[0]);
	close(sv[1]);
}

static void *write_slowly(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

	/* Pauses make the reader see partial lines; the result must not depend on them. */
	put(fd, "GE");
	nanosleep(&ts, NULL);
	put(fd, "N 3\nOK 1");
	nanosleep(&ts, NULL);
	put(fd, "23 x\nGEN 9\n");
	return NULL;
}

TEST(test_partial_lines_are_joined)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	pthread_t t;
	int sv[2];

	pair(sv);
	assert_eq(pthread_create(&t, NULL, write_slowly, &sv[1]), 0);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), 0);
	assert_eq(l.value, 123);
	assert_eq(l.words_len, 5);
	assert_mem_eq(l.words, "123 x", 5);
	pthread_join(t, NULL);
	assert_left(sv[0], "GEN 9\n");
	close(sv[0]);
	close(sv[1]);
}

TEST(test_eof_mid_reply_is_econnreset)
{
	char buf[PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int sv[2];

	pair(sv);
	put(sv[1], "OK 1");
	close(sv[1]);
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -ECONNRESET);
	close(sv[0]);
}

TEST(test_overlong_line_is_eproto)
{
	char buf[PROTOCOL_REPLY_MAX], big[2 * PROTOCOL_REPLY_MAX];
	struct protocol_line l;
	int sv[2];

	pair(sv);
	memset(big, 'O', sizeof(big));
	assert_eq(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
	assert_eq(client_read_reply(sv[0], buf, sizeof(buf), &l), -EPROTO);
	close(sv[0]);
	close(sv[1]);
}

TEST(test_send_to_vanished_peer_is_epipe_not_sigpipe)
{
	int sv[2];

	pair(sv);
	close(sv[1]);
	assert_eq(client_send(sv[0], "READ\n", 5), -EPIPE);
	close(sv[0]);
}

TEST(test_request_value_wants_a_number)
{
	uint64_t v = 42;
	int sv[2];

	pair(sv);
	put(sv[1], "OK\nOK 5\n");
	assert_eq(client_request_value(sv[0], "READ", &v), -EPROTO);
	assert_eq(v, 42);
	assert_eq(client_request_value(sv[0], "READ", &v), 0);
	assert_eq(v, 5);
	/* Both requests went out, each as one line. */
	assert_left(sv[1], "READ\nREAD\n");
	close(sv[0]);
	close(sv[1]);
}

TEST(test_connect_reports_missing_daemon)
{
	char longdir[200];
	uint64_t v;

	client_set_runtime_dir("/nonexistent/snapsafe");
	assert_eq(client_connect(NULL), -ENOENT);
	assert_eq(client_call_value("OUTDATED", &v), -ENOENT);
	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	assert_eq(client_connect(longdir), -ENAMETOOLONG);
	client_set_runtime_dir(NULL);
}

int main(void)
{
	RUN(test_reply_skips_earlier_events_and_leaves_later_ones);
	RUN(test_err_maps_to_negative_errno);
	RUN(test_partial_lines_are_joined);
	RUN(test_eof_mid_reply_is_econnreset);
	RUN(test_overlong_line_is_eproto);
	RUN(test_send_to_vanished_peer_is_epipe_not_sigpipe);
	RUN(test_request_value_wants_a_number);
	RUN(test_connect_reports_missing_daemon);
	return 0;
}
