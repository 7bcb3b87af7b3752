/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Make the kernel refuse random bytes to this process and its children, in every way
 * libsnapsafe (and OpenSSL) ask for them: a seccomp filter makes the getrandom syscall fail
 * with ENOSYS (the vDSO needs it too, for its first key), and in a mount namespace of our own
 * /dev/null is bound over /dev/urandom and /dev/random, so the device files read nothing.
 * Each part is checked before it counts: a refusal that does nothing cannot pass a test.
 * Root gets the namespace directly; others through a user namespace. Header only.
 */
#ifndef SNAPSAFE_TEST_OPENSSL_REFUSE_H
#define SNAPSAFE_TEST_OPENSSL_REFUSE_H

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Write @s to the file @path; false on any error. */
static inline bool refuse_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

static inline bool refuse_namespace(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];

	if (unshare(CLONE_NEWNS) == 0)
		return true;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return false;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (!refuse_write_file("/proc/self/uid_map", map) ||
	    !refuse_write_file("/proc/self/setgroups", "deny"))
		return false;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	return refuse_write_file("/proc/self/gid_map", map);
}

/*
 * refuse_kernel() - refuse; on failure say why in @why.
 * Return: 0 when refused and checked; -1 when the machine cannot do it (no namespaces, no
 * seccomp: a skip); -2 when it was done but the checks show it does not work (a failure).
 */
static inline int refuse_kernel(char *why, size_t size)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	const char *devs[] = { "/dev/urandom", "/dev/random" };
	unsigned char b[16];

	if (!refuse_namespace()) {
		snprintf(why, size, "no mount namespace: %s", strerror(errno));
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why, size, "mount --make-rprivate /: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		if (mount("/dev/null", devs[i], NULL, MS_BIND, NULL) < 0) {
			snprintf(why, size, "bind /dev/null over %s: %s", devs[i], strerror(errno));
			return -1;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		snprintf(why, size, "no seccomp filter: %s", strerror(errno));
		return -1;
	}
	errno = 0;
	if (syscall(SYS_getrandom, b, sizeof(b), 0) != -1 || errno != ENOSYS) {
		snprintf(why, size, "the filter did not make getrandom fail with ENOSYS");
		return -2;
	}
	for (size_t i = 0; i < 2; i++) {
		int fd = open(devs[i], O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b));

		if (fd >= 0)
			close(fd);
		if (n != 0) {
			snprintf(why, size, "%s still gives bytes (%zd)", devs[i], n);
			return -2;
		}
	}
	return 0;
}

#endif
