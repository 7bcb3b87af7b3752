/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vsock listener (see listener-vsock.h). A snapshot and restore of the VM keeps the
 * listening socket; connections that were open are reset, and a connect that the host
 * abandons while the device is being plugged in again ends in ECONNRESET or ECONNABORTED
 * at accept: both are routine here (debug level), never an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "listener-vsock.h"
#include "log.h"

enum {
	VSOCK_ACCEPT_BATCH = 64,	/* accepts per wake-up, as on the Unix socket */
};

struct listener_vsock {
	struct event_loop *loop;
	struct server *srv;
	struct vsock_policy policy;
	struct source src;
	int spare_fd;			/* given up to accept-and-close when out of descriptors */
};

/* This machine's own CID; VMADDR_CID_ANY when the kernel does not say. */
static uint32_t local_cid(void)
{
	unsigned int cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
			cid = VMADDR_CID_ANY;
		close(fd);
	}
	return cid;
}

static void accept_one_without_fd(struct listener_vsock *l)
{
	int fd;

	if (l->spare_fd < 0)
		return;
	close(l->spare_fd);
	fd = accept4(l->src.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_warning("Out of file descriptors: refused a vsock client");
}

static void listener_dispatch(struct source *s, uint32_t events)
{
	struct listener_vsock *l = s->userdata;

	for (unsigned i = 0; i < VSOCK_ACCEPT_BATCH; i++) {
		struct sockaddr_vm peer = {};
		socklen_t len = sizeof(peer);
		int fd;

		fd = accept4(l->src.fd, (struct sockaddr *)&peer, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case ECONNRESET:
			case EPROTO:
				/* A peer that left before we took it: a restore does this. */
				log_debug_errno(errno, "vsock accept");
				continue;
			case EMFILE:
			case ENFILE:
				accept_one_without_fd(l);
				return;
			default:
				log_warning_errno(errno, "vsock accept failed");
				return;
			}
		}
		server_take_vsock(l->srv, fd, peer.svm_cid,
				  vsock_policy_lookup(&l->policy, peer.svm_cid));
	}
}

int listener_vsock_start(struct event_loop *loop, struct server *srv, const struct options *opt,
			 struct listener_vsock **ret)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = opt->vsock_port,
	};
	struct listener_vsock *l;
	uint32_t cid;
	int fd, r;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (r == -EAFNOSUPPORT)
			return log_error_errno(r, "--vsock-port %u: no AF_VSOCK here: the vsock "
					       "module and a transport such as "
					       "vmw_vsock_virtio_transport must be loaded, and a "
					       "filter such as systemd's RestrictAddressFamilies= "
					       "must allow it", opt->vsock_port);
		return log_error_errno(r, "--vsock-port %u: cannot create a vsock socket",
				       opt->vsock_port);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "--vsock-port %u: cannot listen%s", opt->vsock_port,
				       r == -EADDRINUSE ? " (another listener has the port)" : "");
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return log_error_errno(ENOMEM, "Out of memory");
	}
	*l = (struct listener_vsock) {
		.loop = loop, .srv = srv, .policy = opt->vsock_policy,
		.src = { .fd = fd, .dispatch = listener_dispatch }, .spare_fd = -1,
	};
	l->src.userdata = l;
	cid = local_cid();
	/*
	 * On a hypervisor host (local CID 2) a peer "CID 2" is a process of this machine, of
	 * any user: the default must not give it control. An explicit rule is the operator's.
	 */
	if (cid == VSOCK_CID_HOST && !opt->vsock_policy_explicit) {
		struct vsock_policy p;

		(void)vsock_policy_parse("host:read,any:read", &p);
		l->policy = p;
		log_warning("This machine is the vsock host (CID 2): its local processes connect "
			    "as CID 2, so nobody gets control over vsock without --vsock-allow");
	}
	r = event_loop_add(loop, &l->src, EPOLLIN);
	if (r < 0) {
		listener_vsock_stop(l);
		return log_error_errno(r, "epoll_ctl");
	}
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_info("Listening on vsock port %u (local CID %d): host %s, local %s, others %s",
		 opt->vsock_port, cid == VMADDR_CID_ANY ? -1 : (int)cid,
		 vsock_access_name(vsock_policy_lookup(&l->policy, VSOCK_CID_HOST)),
		 vsock_access_name(vsock_policy_lookup(&l->policy, VSOCK_CID_LOCAL)),
		 vsock_access_name(l->policy.other));
	*ret = l;
	return 0;
}

struct listener_vsock *listener_vsock_stop(struct listener_vsock *l)
{
	if (!l)
		return NULL;
	source_close(l->loop, &l->src);
	if (l->spare_fd >= 0)
		close(l->spare_fd);
	free(l);
	return NULL;
}
