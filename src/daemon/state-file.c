/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state file (see state-file.h). It is written before a raise is published to
 * anyone, and once at the end of an event batch in which only a notifier position moved.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "log.h"
#include "parse-number.h"
#include "state-file.h"

enum { STATE_MAX = 1024 };

struct state_file {
	char path[PATH_MAX];
	bool failing;		/* the last write failed: say so once, and again when it works */
};

/* Notifier positions and their keys; everything else in the file is fixed. */
static const struct {
	unsigned id;
	const char *key;
	uint64_t max;
} position_keys[] = {
	{ SNAPSAFE_NOTIFIER_VMFORK_KMSG,	"kmsg_next",		UINT64_MAX },
	{ SNAPSAFE_NOTIFIER_VMCLOCK,		"vmclock_counter",	UINT64_MAX },
	{ SNAPSAFE_NOTIFIER_SYSGENID,		"sysgenid_counter",	UINT32_MAX },
};

int state_file_new(const char *path, struct state_file **ret)
{
	struct state_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path)) {
		free(f);
		return -ENAMETOOLONG;
	}
	*ret = f;
	return 0;
}

struct state_file *state_file_free(struct state_file *f)
{
	free(f);
	return NULL;
}

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

static void parse_line(char *line, struct core_values *s)
{
	char *eq = strchr(line, '=');
	const char *v;
	uint64_t u;

	if (!eq)
		return;
	*eq = '\0';
	v = eq + 1;
	if (strcmp(line, "boot_id") == 0) {
		snprintf(s->boot_id, sizeof(s->boot_id), "%s", v);
		return;
	}
	if (strcmp(line, "generation") == 0) {
		if (parse_uint_str(v, 10, UINT32_MAX, &u) == 0)
			s->generation = (uint32_t)u;
		return;
	}
	if (strcmp(line, "epoch_counter") == 0) {
		if (parse_uint_str(v, 10, 0xffffffu, &u) == 0)
			s->epoch_counter = (uint32_t)u;
		return;
	}
	/* Before kmsg_next existed: the last record handled. */
	if (strcmp(line, "kmsg_seq") == 0) {
		struct core_position *p = &s->position[SNAPSAFE_NOTIFIER_VMFORK_KMSG];

		if (!p->have && parse_uint_str(v, 10, UINT64_MAX - 1, &u) == 0)
			*p = (struct core_position) { .have = true, .value = u + 1 };
		return;
	}
	for (size_t i = 0; i < sizeof(position_keys) / sizeof(position_keys[0]); i++)
		if (strcmp(line, position_keys[i].key) == 0 &&
		    parse_uint_str(v, 10, position_keys[i].max, &u) == 0)
			s->position[position_keys[i].id] = (struct core_position) {
				.have = true, .value = u,
			};
}

void state_file_parse(const char *text, struct core_values *ret)
{
	struct core_values s = {};

	while (*text) {
		char line[256];
		size_t n = strcspn(text, "\n");

		/* A damaged (over-long) line is skipped like any other damaged value. */
		if (n < sizeof(line)) {
			memcpy(line, text, n);
			line[n] = '\0';
			parse_line(line, &s);
		}
		text += n;
		if (*text == '\n')
			text++;
	}
	*ret = s;
}

int state_file_load(struct state_file *f, struct core_values *ret)
{
	char buf[STATE_MAX];
	ssize_t n;

	n = file_read_small(f->path, buf, sizeof(buf), "state file");
	if (n == -ENOENT) {
		*ret = (struct core_values) {};
		return 0;
	}
	if (n < 0)
		return (int)n;
	state_file_parse(buf, ret);
	return 0;
}

static int format(const struct core_values *v, char *buf, size_t size)
{
	size_t off = 0;
	int n;

#define APPEND(...) do {							\
		n = snprintf(buf + off, size - off, __VA_ARGS__);		\
		if (n < 0 || (size_t)n >= size - off)				\
			return -ENOBUFS;					\
		off += (size_t)n;						\
	} while (0)

	APPEND("generation=%" PRIu32 "\nepoch_counter=%" PRIu32 "\n", v->generation,
	       v->epoch_counter);
	if (v->boot_id[0])
		APPEND("boot_id=%s\n", v->boot_id);
	for (size_t i = 0; i < sizeof(position_keys) / sizeof(position_keys[0]); i++) {
		const struct core_position *p = &v->position[position_keys[i].id];

		if (p->have)
			APPEND("%s=%" PRIu64 "\n", position_keys[i].key, p->value);
	}
#undef APPEND
	return (int)off;
}

static int state_file_publish(void *ctx, const struct core_values *v, unsigned changes)
{
	struct state_file *f = ctx;
	char buf[STATE_MAX];
	int n, r;

	n = format(v, buf, sizeof(buf));
	if (n < 0)
		return log_error_errno(n, "Cannot format the state");
	r = file_replace(f->path, buf, (size_t)n);
	if (r < 0) {
		if (!f->failing)
			log_error_errno(r, "Cannot write %s (retrying with every change)", f->path);
		f->failing = true;
		return r;
	}
	if (f->failing)
		log_notice("%s written again", f->path);
	f->failing = false;
	return 0;
}

const struct sink_ops state_file_sink = {
	.name = "state file",
	.publish = state_file_publish,
};
