/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may trigger, quiesce and resume: root, a process with CAP_CHECKPOINT_RESTORE
 * effective and ambient, or a member of --control-group; everyone else gets EACCES
 * (snapsafectl exit code 4), whatever it writes on the socket. The rights are the ones of
 * the process that connected (SO_PEERCRED) as the kernel reports them, and it must have
 * written the request itself: a process that connects as nobody and then execs a
 * setuid-root program, or a program with a file capability, holding the socket must not
 * borrow that program's privileges; a request root's connection carries from a child
 * that dropped to nobody is nobody's; capabilities held in a user namespace of one's own
 * (unshare -r) do not count; and all this works under the unit's capability bounding set. Runs programs as uid 65534 through setpriv(1) and fork+setresuid, so
 * it needs root.
 * Usage: test-daemon-privilege SNAPSAFED SNAPSAFECTL
 */
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sys/xattr.h>

#include <snapsafe/snapsafe.h>

#include "daemon-util.h"

enum {
	NOBODY		= 65534,
	CONTROL_GID	= 4242,
	EXIT_REFUSED	= 4,	/* snapsafectl: the daemon said EACCES */
};

static struct td t;
static const char *ctl_path;

static int ctl_as(const struct td *d, const char *const *opts, const char *sub, char *out,
		  size_t size)
{
	return td_ctl_as(d, ctl_path, opts, sub, out, size);
}

static const char *const as_nobody[] = {
	"--reuid=65534", "--regid=65534", "--clear-groups", NULL,
};
static const char *const as_nobody_with_cap[] = {
	"--reuid=65534", "--regid=65534", "--clear-groups",
	"--inh-caps=+checkpoint_restore", "--ambient-caps=+checkpoint_restore", NULL,
};
static const char *const as_nobody_with_other_cap[] = {
	"--reuid=65534", "--regid=65534", "--clear-groups",
	"--inh-caps=+net_admin", "--ambient-caps=+net_admin", NULL,
};

static void drop_to_nobody(gid_t gid)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		test_fail("cannot drop to uid %d: %s", NOBODY, strerror(errno));
}

TEST(test_trigger_as_nobody_is_refused_with_eacces)
{
	uint32_t gen = td_status(&t).generation;
	char out[256];

	assert_eq(ctl_as(&t, as_nobody, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(ctl_as(&t, as_nobody, "quiesce", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(ctl_as(&t, as_nobody, "resume", out, sizeof(out)), EXIT_REFUSED);
	/* Watching and reading are for everyone. */
	assert_eq(ctl_as(&t, as_nobody, "outdated", out, sizeof(out)), 0);
	assert_eq(strcmp(out, "0\n"), 0);
	assert_eq(td_status(&t).generation, gen);
	assert_eq(td_status(&t).quiesced, 0);
}

TEST(test_words_on_the_socket_never_grant_privilege)
{
	uint32_t gen = td_status(&t).generation;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct tconn c;

		drop_to_nobody(NOBODY);
		/* Through the library: the negative errno of the API. */
		assert_eq(snapsafe_trigger(0), -EACCES);
		assert_eq(snapsafe_quiesce(), -EACCES);
		assert_eq(snapsafe_resume(), -EACCES);
		tconn_open(&c, &t);
		tconn_expect(&c, "TRIGGER", "ERR EACCES permission denied");
		tconn_expect(&c, "TRIGGER 4000000000", "ERR EACCES permission denied");
		tconn_expect(&c, "QUIESCE", "ERR EACCES permission denied");
		tconn_expect(&c, "RESUME", "ERR EACCES permission denied");
		tconn_expect(&c, "TRIGGER 0 uid=0", "ERR EINVAL unknown request");
		tconn_expect(&c, "HELLO 1 CAP_CHECKPOINT_RESTORE", "ERR EINVAL unknown request");
		tconn_expect(&c, "uid=0 TRIGGER", "ERR EINVAL unknown request");
		tconn_expect(&c, "TRIGGER", "ERR EACCES permission denied");
		tconn_close(&c);
		_exit(0);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_eq(td_status(&t).generation, gen);
}

TEST(test_trigger_with_cap_checkpoint_restore_is_allowed)
{
	uint32_t gen = td_status(&t).generation;
	char out[256], want[32];

	assert_eq(ctl_as(&t, as_nobody_with_cap, "trigger", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%u\n", gen + 1);
	assert_eq(strcmp(out, want), 0);
	assert_eq(ctl_as(&t, as_nobody_with_cap, "quiesce", out, sizeof(out)), 0);
	assert_eq(td_status(&t).quiesced, 1);
	assert_eq(ctl_as(&t, as_nobody_with_cap, "resume", out, sizeof(out)), 0);
	assert_eq(td_status(&t).quiesced, 0);
	assert_eq(td_status(&t).generation, gen + 2);
	/* Another capability is not this one. */
	assert_eq(ctl_as(&t, as_nobody_with_other_cap, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(td_status(&t).generation, gen + 2);
}

/*
 * Any user can be root with every capability inside a user namespace of its own
 * (unshare -r); /proc shows those capabilities in CapEff, but they count only in that
 * namespace, not for the daemon's.
 */
TEST(test_capabilities_in_a_user_namespace_of_its_own_are_refused)
{
	static const char *const in_userns[] = {
		"--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "--user",
		"--map-root-user", NULL,
	};
	uint32_t gen = td_status(&t).generation;
	char out[256];
	int status;

	status = system("setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user "
			"--map-root-user true");
	if (status != 0) {
		fprintf(stderr, "skipped: no unprivileged user namespaces here\n");
		return;
	}
	assert_eq(ctl_as(&t, in_userns, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(ctl_as(&t, in_userns, "quiesce", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(td_status(&t).generation, gen);
	assert_eq(td_status(&t).quiesced, 0);
}

TEST(test_control_group_members_may_trigger)
{
	static const char *const primary[] = {
		"--reuid=65534", "--regid=4242", "--clear-groups", NULL,
	};
	static const char *const supplementary[] = {
		"--reuid=65534", "--regid=65534", "--groups=4242", NULL,
	};
	static const char *const other_group[] = {
		"--reuid=65534", "--regid=65534", "--groups=4243", NULL,
	};
	struct td g;
	char out[256];

	td_init(&g, t.binary);
	td_start(&g, "--control-group", "4242");
	assert_eq(ctl_as(&g, primary, "trigger", out, sizeof(out)), 0);
	assert_eq(strcmp(out, "1\n"), 0);
	assert_eq(ctl_as(&g, supplementary, "trigger", out, sizeof(out)), 0);
	assert_eq(strcmp(out, "2\n"), 0);
	assert_eq(ctl_as(&g, other_group, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(ctl_as(&g, as_nobody, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(td_status(&g).generation, 2);
	td_cleanup(&g);
	/* The daemon without the option: the group means nothing. */
	assert_eq(ctl_as(&t, primary, "trigger", out, sizeof(out)), EXIT_REFUSED);
}

static void send_fd(int sock, int fd)
{
	char c = '!';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u = {};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &mh, 0) != 1)
		test_fail("sendmsg: %s", strerror(errno));
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u = {};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		test_fail("recvmsg: %s", strerror(errno));
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		test_fail("no descriptor received");
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The "Uid:" line of /proc/@pid/status, or "" once it is gone. */
static void proc_uids(pid_t pid, char *buf, size_t size)
{
	char path[64], line[256];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Uid:", 4) == 0)
			snprintf(buf, size, "%s", line + 4);
	fclose(f);
}

/* Has @pid exec'd @path yet? */
static bool proc_runs(pid_t pid, const char *path)
{
	char link[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;
	exe[n] = '\0';
	return strcmp(exe, path) == 0;
}

/* Did the exec make @pid's effective uid 0 (a setuid-root program)? */
static bool proc_euid_is_root(pid_t pid)
{
	char uids[256];
	unsigned euid = 1;

	proc_uids(pid, uids, sizeof(uids));
	return sscanf(uids, "%*u %u", &euid) == 1 && euid == 0;
}

/* Give @path the file capability cap_checkpoint_restore+ep (what `setcap` writes). */
static bool set_file_capability(const char *path)
{
	struct vfs_cap_data cap = {
		.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
	};

	cap.data[CAP_CHECKPOINT_RESTORE / 32].permitted = 1u << (CAP_CHECKPOINT_RESTORE % 32);
	return setxattr(path, "security.capability", &cap, sizeof(cap), 0) == 0;
}

/* Does /proc/@pid/status show CAP_CHECKPOINT_RESTORE in CapEff? */
static bool proc_has_checkpoint_restore(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> CAP_CHECKPOINT_RESTORE) & 1;
}

/*
 * Nobody connects, queues "TRIGGER" behind a WAIT that cannot finish yet, then execs @prog
 * keeping the socket. When the WAIT finishes and the daemon reads the TRIGGER, /proc shows
 * the program's rights (@gained says whether the exec gave any; if not, there is nothing
 * to borrow and nothing to test): the request must still be nobody's, because nobody
 * connected and nobody wrote it.
 */
static void exec_after_queued_trigger(const char *prog, bool (*gained)(pid_t pid))
{
	struct tconn w, c = { .fd = -1 };
	char line[256];
	int sp[2], status;
	uint64_t deadline;
	uint32_t gen;
	pid_t pid;

	/* A watcher of another process, outdated, so that a WAIT stays pending. */
	tconn_open_foreign(&w, &t);
	tconn_u64(&w, "WATCH");
	gen = (uint32_t)td_u64(&t, "TRIGGER");

	assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tconn n;

		drop_to_nobody(NOBODY);
		tconn_open(&n, &t);
		tconn_send_raw(&n, "WAIT 0\nTRIGGER\n", 15);
		send_fd(sp[1], n.fd);
		fcntl(n.fd, F_SETFD, 0);	/* the program inherits the socket */
		/* Not our stdout/stderr: meson would wait for the program to let go of them. */
		dup2(open("/dev/null", O_RDWR | O_CLOEXEC), STDOUT_FILENO);
		dup2(STDOUT_FILENO, STDERR_FILENO);
		execl(prog, prog, "60", (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	c.fd = recv_fd(sp[0]);
	close(sp[0]);
	deadline = td_now_ms() + TD_WAIT_MS;
	while (!proc_runs(pid, prog)) {
		if (td_now_ms() > deadline || waitpid(pid, &status, WNOHANG) == pid)
			test_fail("%s did not start", prog);
		td_sleep_ms(5);
	}
	if (!gained(pid)) {
		/* nosuid mount or no_new_privs: nothing to borrow, nothing to test. */
		fprintf(stderr, "skipped: the exec of %s gave no privilege here\n", prog);
	} else {
		snprintf(line, sizeof(line), "ACK %u", gen);
		tconn_u64(&w, line);
		tconn_reply(&c, line, sizeof(line));
		assert_eq(strcmp(line, "OK 0"), 0);
		tconn_reply(&c, line, sizeof(line));
		if (strcmp(line, "ERR EACCES permission denied") != 0)
			test_fail("TRIGGER written by nobody, read while %s holds the socket: got '%s'",
				  prog, line);
		assert_eq(td_status(&t).generation, gen);
	}
	kill(pid, SIGKILL);
	assert_eq(waitpid(pid, &status, 0), pid);
	tconn_close(&c);
	tconn_close(&w);
}

/* A setuid-root program: /proc shows euid 0 and every capability. */
TEST(test_setuid_exec_after_connect_does_not_lend_privilege)
{
	char suid[400], cmd[1400];

	snprintf(suid, sizeof(suid), "%s/suid-sleep", t.dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep %s && chown 0:0 %s && chmod 4755 %s", suid, suid,
		 suid);
	assert_eq(system(cmd), 0);
	exec_after_queued_trigger(suid, proc_euid_is_root);
}

/*
 * A program that carries cap_checkpoint_restore as a file capability (criu installed with
 * setcap, say): /proc shows the same uid with the capability in CapEff, but the process
 * that wrote the request did not have it. (A file capability is never ambient; one
 * granted by a service manager is.)
 */
TEST(test_file_capability_exec_after_connect_does_not_lend_privilege)
{
	char prog[400], cmd[1000];

	snprintf(prog, sizeof(prog), "%s/fcap-sleep", t.dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep %s && chmod 0755 %s", prog, prog);
	assert_eq(system(cmd), 0);
	if (!set_file_capability(prog)) {
		fprintf(stderr, "skipped: cannot set a file capability here: %s\n", strerror(errno));
		return;
	}
	exec_after_queued_trigger(prog, proc_has_checkpoint_restore);
}

/*
 * Root connects, then hands the connection to a child that drops to nobody: the rights
 * are those of the process that writes the request (SCM_CREDENTIALS), and a request that
 * root's connection carries from nobody is nobody's.
 */
TEST(test_request_written_by_another_process_is_not_the_peers)
{
	uint32_t gen = td_status(&t).generation;
	struct tconn c;
	int status;
	pid_t pid;

	tconn_open(&c, &t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char line[256];

		drop_to_nobody(NOBODY);
		tconn_request(&c, "TRIGGER", line, sizeof(line));
		_exit(strcmp(line, "ERR EACCES permission denied") == 0 ? 0 : 1);
	}
	assert_eq(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_eq(td_status(&t).generation, gen);
	/* The same connection, written by root that connected: allowed. */
	assert_eq(tconn_u64(&c, "TRIGGER"), gen + 1);
	tconn_close(&c);
}

/*
 * The shipped unit bounds the daemon's capabilities (CapabilityBoundingSet=CAP_SYSLOG
 * CAP_NET_ADMIN): no CAP_SYS_PTRACE, so /proc/PID/ns of another user is out of reach.
 * The namespace check must still let a CAP_CHECKPOINT_RESTORE peer in.
 */
TEST(test_capability_path_works_under_the_units_bounding_set)
{
	static const char *const bounded[] = {
		"setpriv", "--bounding-set=-all,+syslog,+net_admin", "--inh-caps=-all", NULL,
	};
	uint32_t gen;
	struct td b;
	char out[256];

	td_init(&b, t.binary);
	b.wrapper = bounded;
	td_start_argv(&b, NULL);
	gen = td_status(&b).generation;
	assert_eq(ctl_as(&b, as_nobody_with_cap, "trigger", out, sizeof(out)), 0);
	assert_eq(td_status(&b).generation, gen + 1);
	assert_eq(ctl_as(&b, as_nobody, "trigger", out, sizeof(out)), EXIT_REFUSED);
	assert_eq(td_status(&b).generation, gen + 1);
	td_cleanup(&b);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		test_fail("usage: %s SNAPSAFED SNAPSAFECTL", argv[0]);
	if (geteuid() != 0)
		test_skip("needs root to run programs as uid %d", NOBODY);
	ctl_path = argv[2];
	td_init(&t, argv[1]);
	td_start_argv(&t, NULL);
	RUN(test_trigger_as_nobody_is_refused_with_eacces);
	RUN(test_words_on_the_socket_never_grant_privilege);
	RUN(test_trigger_with_cap_checkpoint_restore_is_allowed);
	RUN(test_capabilities_in_a_user_namespace_of_its_own_are_refused);
	RUN(test_control_group_members_may_trigger);
	RUN(test_setuid_exec_after_connect_does_not_lend_privilege);
	RUN(test_file_capability_exec_after_connect_does_not_lend_privilege);
	RUN(test_request_written_by_another_process_is_not_the_peers);
	RUN(test_capability_path_works_under_the_units_bounding_set);
	return td_finish(&t);
}
