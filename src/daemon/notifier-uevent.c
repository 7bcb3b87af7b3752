/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The uevent notifier: Linux 6.8's vmgenid sends a KOBJ_CHANGE uevent with
 * NEW_VMGENID=1 when the VM generation ID changes (reverted in 6.9; see
 * kernel_has_vmgenid_uevent()). We listen on the kernel's uevent
 * multicast group and accept only messages whose sender port id is 0 (the kernel:
 * a process cannot send from port 0), so udev rebroadcasts and forgeries are ignored.
 * The payload check is a pure function, fuzzed.
 *
 * Uevents keep no history: one sent while snapsafed was down is lost (vmfork-kmsg
 * covers that case from the log). A receive-buffer overflow (ENOBUFS) may have lost
 * one too, so it raises, on the side of a spurious reseed rather than a missed clone.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

enum {
	UEVENT_BUF	= 8192,
	UEVENT_RCVBUF	= 1 << 20,
};

static struct source uevent_src = { .fd = -1 };

/* Does @buf hold the NUL-separated entry @kv exactly? */
static bool has_entry(const char *buf, size_t len, const char *kv)
{
	size_t kvlen = strlen(kv);
	size_t off = 0;

	while (off < len) {
		const char *e = buf + off;
		const char *z = memchr(e, '\0', len - off);
		size_t elen = z ? (size_t)(z - e) : len - off;

		if (elen == kvlen && memcmp(e, kv, kvlen) == 0)
			return true;
		off += elen + 1;
	}
	return false;
}

bool uevent_is_new_vmgenid(const char *buf, size_t len)
{
	const char *z, *at;
	size_t hlen;

	if (len == 0)
		return false;
	/* The kernel's header is "action@devpath"; udev's messages start with "libudev". */
	z = memchr(buf, '\0', len);
	hlen = z ? (size_t)(z - buf) : len;
	at = memchr(buf, '@', hlen);
	if (!at || hlen < 8 || memcmp(buf, "change@", 7) != 0)
		return false;
	if (!z)
		return false;
	buf += hlen + 1;
	len -= hlen + 1;
	return has_entry(buf, len, "ACTION=change") && has_entry(buf, len, "NEW_VMGENID=1");
}

bool uevent_accept(const struct sockaddr_nl *sa, socklen_t salen, int msg_flags, const char *buf,
		   size_t len)
{
	/* Port id 0 is the kernel: a process cannot send from it, udev included. */
	if (salen < sizeof(*sa) || sa->nl_family != AF_NETLINK || sa->nl_pid != 0)
		return false;
	/* A cut message may have lost the entries that make it what it claims to be. */
	if (msg_flags & MSG_TRUNC)
		return false;
	return uevent_is_new_vmgenid(buf, len);
}

static void uevent_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	for (unsigned i = 0; i < 64; i++) {
		char buf[UEVENT_BUF];
		struct sockaddr_nl sa = {};
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = {
			.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				log_warning("uevent: receive buffer overflowed; raising in case a "
					    "NEW_VMGENID event was lost");
				daemon_vm_fork_reported(d, SNAPSAFE_NOTIFIER_UEVENT);
				continue;
			}
			if (errno != EAGAIN)
				log_warning_errno(errno, "uevent: recvmsg");
			return;
		}
		if (mh.msg_namelen >= sizeof(sa) && sa.nl_pid != 0) {
			log_debug("uevent: ignored a message from port %u: not the kernel",
				  (unsigned)sa.nl_pid);
			continue;
		}
		if (uevent_accept(&sa, mh.msg_namelen, mh.msg_flags, buf, (size_t)n)) {
			log_notice("Kernel uevent NEW_VMGENID=1");
			daemon_vm_fork_reported(d, SNAPSAFE_NOTIFIER_UEVENT);
		}
	}
}

/*
 * NEW_VMGENID uevents exist in Linux 6.8 only: the change was reverted in 6.9 (and in
 * 6.8.y stable), so on any other kernel the event never comes and a live notifier would
 * claim a VM coverage the system does not have.
 */
static bool kernel_has_vmgenid_uevent(void)
{
	struct utsname u;
	unsigned maj = 0, min = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &maj, &min) != 2)
		return false;
	return maj == 6 && min == 8;
}

int notifier_uevent_start(struct daemon *d)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd, sz = UEVENT_RCVBUF, r;

	if (d->opt.uevent == UEVENT_OFF)
		return 0;
	/* --uevent: the operator says this kernel sends it (a backport), or a test feeds it. */
	if (d->opt.uevent == UEVENT_AUTO &&
	    (!kernel_has_vmgenid_uevent() || !vmgenid_device_present())) {
		log_info("uevent: no vmgenid device or not Linux 6.8: off");
		return 0;
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		log_info("uevent: netlink socket: %m: off");
		return 0;
	}
	/* FORCE needs CAP_NET_ADMIN; the plain one is capped by rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_info("uevent: bind: %m: off");
		close(fd);
		return 0;
	}
	uevent_src = (struct source) { .fd = fd, .dispatch = uevent_dispatch };
	r = daemon_add_source(d, &uevent_src, EPOLLIN);
	if (r < 0) {
		close(fd);
		uevent_src.fd = -1;
		return 0;
	}
	log_info("uevent: listening for NEW_VMGENID: live");
	return 1;
}

void notifier_uevent_stop(void)
{
	if (uevent_src.fd >= 0)
		close(uevent_src.fd);
	uevent_src.fd = -1;
}
