/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet targets: the three address forms and the targets file (see target.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-number.h"
#include "runtime-dir.h"
#include "target.h"

static int invalid(char *why, size_t size, const char *fmt, const char *arg)
{
	snprintf(why, size, fmt, arg);
	return -EINVAL;
}

/* The port after the last ':' of @arg; the rest is left in @head (NUL at the colon). */
static int split_port(char *arg, uint32_t *ret_port)
{
	char *colon = strrchr(arg, ':');
	uint64_t port;

	if (!colon || colon == arg)
		return -EINVAL;
	/* VMADDR_PORT_ANY is no listener's port. */
	if (parse_uint_str(colon + 1, 10, UINT32_MAX - 1, &port) < 0)
		return -EINVAL;
	*colon = '\0';
	*ret_port = (uint32_t)port;
	return 0;
}

int target_parse_kind(enum target_kind kind, const char *arg, struct target *ret, char *why,
		      size_t why_size)
{
	struct target t = { .kind = kind };
	char buf[sizeof(t.path) + 32];
	uint64_t cid;

	if (strlen(arg) >= sizeof(buf))
		return invalid(why, why_size, "'%s' is too long", arg);
	strcpy(buf, arg);
	switch (kind) {
	case TARGET_VSOCK:
		/* CIDs 0 and 1 are the hypervisor and this machine, VMADDR_CID_ANY nobody. */
		if (split_port(buf, &t.port) < 0 ||
		    parse_uint_str(buf, 10, UINT32_MAX - 1, &cid) < 0)
			return invalid(why, why_size, "'%s' is not CID:PORT", arg);
		t.cid = (uint32_t)cid;
		snprintf(t.name, sizeof(t.name), "vsock:%u:%u", t.cid, t.port);
		break;
	case TARGET_VSOCK_UDS:
		if (split_port(buf, &t.port) < 0)
			return invalid(why, why_size, "'%s' is not PATH:PORT", arg);
		if (strlen(buf) >= sizeof(t.path))
			return invalid(why, why_size, "the socket path of '%s' is longer than a Unix "
				       "socket address holds", arg);
		strcpy(t.path, buf);
		snprintf(t.name, sizeof(t.name), "vsock-uds:%s:%u", t.path, t.port);
		break;
	case TARGET_UNIX:
		if (!buf[0] || runtime_path(t.path, sizeof(t.path), buf, SNAPSAFE_SOCKET_FILE) < 0)
			return invalid(why, why_size, "'%s' is empty or too long for a Unix socket "
				       "path", arg);
		snprintf(t.name, sizeof(t.name), "unix:%s", buf);
		break;
	}
	*ret = t;
	return 0;
}

int target_parse(const char *spec, struct target *ret, char *why, size_t why_size)
{
	static const struct { const char *prefix; enum target_kind kind; } forms[] = {
		{ "vsock:", TARGET_VSOCK },
		{ "vsock-uds:", TARGET_VSOCK_UDS },
		{ "unix:", TARGET_UNIX },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t len = strlen(forms[i].prefix);

		if (strncmp(spec, forms[i].prefix, len) == 0)
			return target_parse_kind(forms[i].kind, spec + len, ret, why, why_size);
	}
	return invalid(why, why_size, "'%s' is none of vsock:CID:PORT, vsock-uds:PATH:PORT, "
		       "unix:DIR", spec);
}

int targets_add(struct targets *list, const struct target *t)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct target *v = realloc(list->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n++] = *t;
	return 0;
}

int targets_read_file(const char *path, struct targets *list, char *why, size_t why_size)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *line = NULL, reason[256];
	size_t size = 0;
	unsigned lineno = 0;
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return r;
	}
	while (getline(&line, &size, f) >= 0) {
		char *s = line, *end;
		struct target t;

		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		end = s + strlen(s);
		while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
				   end[-1] == '\t'))
			*--end = '\0';
		if (!*s || *s == '#')
			continue;
		if (target_parse(s, &t, reason, sizeof(reason)) < 0) {
			snprintf(why, why_size, "%s:%u: %s", path, lineno, reason);
			r = -EINVAL;
			break;
		}
		if (targets_add(list, &t) < 0) {
			snprintf(why, why_size, "%s: out of memory", path);
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(why, why_size, "%s: read error", path);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return r;
}

void targets_free(struct targets *list)
{
	free(list->v);
	*list = (struct targets) {};
}
