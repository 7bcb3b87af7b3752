/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* snapsafed's command line (docs/daemon.md, snapsafed(8)). */
#ifndef SNAPSAFE_DAEMON_OPTIONS_H
#define SNAPSAFE_DAEMON_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vsock-policy.h"

enum uevent_mode {
	UEVENT_AUTO,	/* only where the kernel sends the event (Linux 6.8 with vmgenid) */
	UEVENT_ON,	/* --uevent */
	UEVENT_OFF,	/* --no-uevent */
};

enum {
	OPTIONS_MAX_CLIENTS_DEFAULT	= 4096,
	OPTIONS_MAX_PER_UID_DEFAULT	= 256,
	OPTIONS_RESERVED_DEFAULT	= 64,
};

struct options {
	const char *runtime_dir;
	const char *compat_path;
	unsigned timer_sec;
	bool have_group;
	gid_t group;
	/* NULL: the default device, which may be absent; set: it must work (exit 2 if not). */
	const char *kmsg_path;
	enum uevent_mode uevent;
	const char *vmclock_path;
	const char *sysgenid_path;
	/* Connections: in all, per uid (root is not limited), kept for privileged peers. */
	unsigned max_clients;
	unsigned max_clients_per_uid;
	unsigned reserved_clients;
	/* --vsock-port: the control protocol on vsock too (listener-vsock.c); 0 is off. */
	uint32_t vsock_port;
	struct vsock_policy vsock_policy;	/* --vsock-allow, else VSOCK_POLICY_DEFAULT */
	bool vsock_policy_explicit;
};

/*
 * options_parse() - fill @o from argv.
 * Return: 1 to run, 0 to exit successfully (--help, --version), -EINVAL on a usage error
 * (logged, with a pointer to --help).
 */
int options_parse(int argc, char **argv, struct options *o);

#endif
