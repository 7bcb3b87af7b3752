/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where snapsafectl finds a daemon when it acts on many (docs/fleet.md): a guest's vsock
 * address (--vsock CID:PORT), a hybrid vsock socket of Firecracker or vhost-device-vsock
 * (--vsock-uds PATH:PORT: connect to PATH, say "CONNECT PORT"), or a local runtime directory
 * (only in a targets file: unix:DIR). Parsing only; fleet.c connects.
 */
#ifndef SNAPSAFE_CLI_TARGET_H
#define SNAPSAFE_CLI_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

enum target_kind {
	TARGET_UNIX,		/* unix:DIR, the control.sock in a runtime directory */
	TARGET_VSOCK,		/* vsock:CID:PORT, AF_VSOCK */
	TARGET_VSOCK_UDS,	/* vsock-uds:PATH:PORT, the hybrid vsock's Unix socket */
};

struct target {
	enum target_kind kind;
	uint32_t cid, port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];	/* the socket to connect to */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];	/* how results name it */
};

struct targets {
	struct target *v;
	size_t n, cap;
};

/*
 * target_parse() - "vsock:CID:PORT", "vsock-uds:PATH:PORT" or "unix:DIR".
 * target_parse_kind() - the part after the prefix, for --vsock and --vsock-uds.
 * Return: 0, or -EINVAL with a reason in @why.
 */
int target_parse(const char *spec, struct target *ret, char *why, size_t why_size);
int target_parse_kind(enum target_kind kind, const char *arg, struct target *ret, char *why,
		      size_t why_size);

/* targets_add() - append. Return: 0, or -ENOMEM. */
int targets_add(struct targets *list, const struct target *t);

/*
 * targets_read_file() - append the targets of @path ("-": stdin): one target as for
 * target_parse() per line; blank lines and lines starting with '#' are skipped, spaces
 * around a target too. Return: 0, or a negative errno with "FILE:LINE: reason" in @why.
 */
int targets_read_file(const char *path, struct targets *list, char *why, size_t why_size);

void targets_free(struct targets *list);

#endif
