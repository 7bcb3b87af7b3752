/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The uevent notifier: Linux 6.8's vmgenid sends a KOBJ_CHANGE uevent with NEW_VMGENID=1
 * when the VM generation ID changes (reverted in 6.9 and in 6.8.y; see
 * kernel_has_vmgenid_uevent()). We listen on the kernel's uevent multicast group and
 * accept only messages whose sender port id is 0 (the kernel: a process cannot send from
 * port 0), so udev rebroadcasts and forgeries are ignored (uevent-message.c).
 *
 * Uevents keep no history: one sent while snapsafed was down is lost (vmfork-kmsg
 * covers that case from the log). A receive-buffer overflow (ENOBUFS) may have lost one
 * too, so it is reported as a VM fork, on the side of a spurious reseed.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "notifier.h"
#include "parse-number.h"
#include "uevent-message.h"

enum {
	UEVENT_BUF	= 8192,
	UEVENT_RCVBUF	= 1 << 20,
	UEVENT_BATCH	= 64,	/* messages per wake-up, so a flood cannot starve the others */
	ID		= SNAPSAFE_NOTIFIER_UEVENT,
};

struct uevent {
	struct source src;
};

static void uevent_dispatch(struct notifier *n, struct source *s, uint32_t events)
{
	for (unsigned i = 0; i < UEVENT_BATCH; i++) {
		char buf[UEVENT_BUF];
		struct sockaddr_nl sa = {};
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = {
			.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t r = recvmsg(s->fd, &mh, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				log_warning("uevent: receive buffer overflowed; raising in case a "
					    "NEW_VMGENID event was lost");
				core_vm_fork(n->core, ID);
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
		if (uevent_accept(&sa, mh.msg_namelen, mh.msg_flags, buf, (size_t)r)) {
			log_notice("Kernel uevent NEW_VMGENID=1");
			core_vm_fork(n->core, ID);
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
	const char *end;
	uint64_t maj, min;

	if (uname(&u) < 0 ||
	    parse_uint_prefix(u.release, strlen(u.release), 10, UINT32_MAX, &maj, &end) < 0 ||
	    *end != '.' ||
	    parse_uint_prefix(end + 1, strlen(end + 1), 10, UINT32_MAX, &min, &end) < 0)
		return false;
	return maj == 6 && min == 8;
}

static int uevent_open(struct notifier *n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	bool forced = n->opt->uevent == UEVENT_ON;
	struct uevent *u = n->priv;
	int fd, sz = UEVENT_RCVBUF, r;

	u->src.fd = -1;
	if (n->opt->uevent == UEVENT_OFF)
		return 0;
	/* --uevent: the operator says this kernel sends it (a backport), or a test feeds it. */
	if (!forced && (!kernel_has_vmgenid_uevent() || !vmgenid_device_present())) {
		log_info("uevent: no vmgenid device or not Linux 6.8: off");
		return 0;
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	notifier_source(n, &u->src, fd);
	/* FORCE needs CAP_NET_ADMIN; the plain one is capped by rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	r = event_loop_add(n->loop, &u->src, EPOLLIN);
	if (r < 0)
		goto fail;
	log_info("uevent: listening for NEW_VMGENID: live");
	return 1;
fail:
	if (forced)
		return log_error_errno(r, "uevent: netlink socket (--uevent)");
	log_info("uevent: netlink socket: %s: off", strerror(-r));
	return 0;
}

static void uevent_close(struct notifier *n)
{
	struct uevent *u = n->priv;

	source_close(n->loop, &u->src);
}

const struct notifier_ops notifier_uevent = {
	.id = ID,
	.priv_size = sizeof(struct uevent),
	.open = uevent_open,
	.dispatch = uevent_dispatch,
	.close = uevent_close,
};
