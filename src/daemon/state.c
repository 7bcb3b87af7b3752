/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state file: what snapsafed must remember across a restart or kill -9 so that
 * the generation never decreases and no notifier event is lost or replayed. A
 * key=value text file in the runtime directory, replaced atomically (write a
 * temporary file, rename over), so a kill at any point leaves the old or the new
 * state, never a torn one. The daemon writes it before it publishes a raise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

int state_read_boot_id(char *buf, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int state_load(const char *path, struct state *ret)
{
	struct state s = {};
	char line[256];
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq, *v;
		uint64_t u;

		line[strcspn(line, "\n")] = '\0';
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		v = eq + 1;
		if (strcmp(line, "boot_id") == 0) {
			snprintf(s.boot_id, sizeof(s.boot_id), "%s", v);
			continue;
		}
		/* A damaged value is ignored: the page still holds the generation. */
		if (parse_u64(v, &u) < 0)
			continue;
		if (strcmp(line, "generation") == 0 && u <= UINT32_MAX) {
			s.generation = (uint32_t)u;
		} else if (strcmp(line, "epoch_counter") == 0) {
			s.epoch_counter = (uint32_t)u;
		} else if (strcmp(line, "kmsg_next") == 0) {
			s.have_kmsg_next = true;
			s.kmsg_next = u;
		} else if (strcmp(line, "kmsg_seq") == 0 && !s.have_kmsg_next && u < UINT64_MAX) {
			/* Before kmsg_next: the last record handled. */
			s.have_kmsg_next = true;
			s.kmsg_next = u + 1;
		} else if (strcmp(line, "vmclock_counter") == 0) {
			s.have_vmclock = true;
			s.vmclock_counter = u;
		} else if (strcmp(line, "sysgenid_counter") == 0 && u <= UINT32_MAX) {
			s.have_sysgenid = true;
			s.sysgenid_counter = (uint32_t)u;
		}
	}
	fclose(f);
	*ret = s;
	return 0;
}

int state_save(const char *path, const struct state *s)
{
	char tmp[4200], buf[1024];
	int n, fd, r = 0;
	size_t off = 0;

	n = snprintf(buf, sizeof(buf), "generation=%" PRIu32 "\nepoch_counter=%" PRIu32 "\n",
		     s->generation, s->epoch_counter);
	off = (size_t)n;
	if (s->boot_id[0])
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "boot_id=%s\n", s->boot_id);
	if (s->have_kmsg_next)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "kmsg_next=%" PRIu64 "\n",
					s->kmsg_next);
	if (s->have_vmclock)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"vmclock_counter=%" PRIu64 "\n", s->vmclock_counter);
	if (s->have_sysgenid)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"sysgenid_counter=%" PRIu32 "\n", s->sysgenid_counter);

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, off) != (ssize_t)off)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
