/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmfork-kmsg notifier: reads /dev/kmsg (or --kmsg-path, a regular file or FIFO in
 * the same format, for tests) and reports the kernel's "random: crng reseeded due to
 * virtual machine fork" record (kmsg-record.c), which vmgenid causes through
 * add_vmfork_randomness() (Linux 5.18+), to the core as a VM fork; the core decides
 * whether that raises (a live device notifier may count the same fork).
 *
 * Records carry a sequence number; the next one to handle is this notifier's persisted
 * position, so a restart raises once for a VM fork it missed, while the first start takes
 * what the log holds as its baseline (the kernel log of a restored VM already holds the
 * record of its own restore). An empty log is a baseline too: every record after it is
 * new, even one logged while the daemon is down. Sequence numbers restart with each boot:
 * main.c drops a position saved under another boot id.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmsg-record.h"
#include "log.h"
#include "notifier.h"

enum {
	KMSG_BUF	= 16384,	/* /dev/kmsg wants room for one whole record */
	KMSG_LINE_MAX	= 8192,
	FILE_POLL_MS	= 100,		/* a regular file cannot be polled: re-read */
	ID		= SNAPSAFE_NOTIFIER_VMFORK_KMSG,
};

struct kmsg {
	struct source src;
	struct source tick;		/* regular files: a timerfd to re-read */
	char line[KMSG_LINE_MAX];
	size_t line_len;
	bool line_overflow;		/* dropping the rest of an over-long line */
	/* The catch-up scan at start. */
	bool scanning;
	uint64_t scan_next;		/* one past the newest record seen */
	bool scan_found;
};

bool vmgenid_device_present(void)
{
	static const char *const dirs[] = {
		"/sys/bus/platform/drivers/vmgenid", "/sys/bus/acpi/drivers/vmgenid",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *de;
		bool found = false;

		if (!dir)
			continue;
		/* A bound device shows up as a symlink beside bind/unbind/uevent. */
		while ((de = readdir(dir)))
			if (de->d_type == DT_LNK && strcmp(de->d_name, "module") != 0)
				found = true;
		closedir(dir);
		if (found)
			return true;
	}
	return false;
}

/* The position after record @seq (saturating: a fake file may say UINT64_MAX). */
static uint64_t seq_after(uint64_t seq)
{
	return seq == UINT64_MAX ? seq : seq + 1;
}

static void handle_line(struct notifier *n, const char *line, size_t len)
{
	const struct core_position *next = core_position(n->core, ID);
	struct kmsg *k = n->priv;
	struct kmsg_record r;

	/* Continuation lines (" KEY=value" dictionary entries) start with a space. */
	if (len == 0 || line[0] == ' ')
		return;
	if (kmsg_record_parse(line, len, &r) < 0)
		return;
	if (k->scanning) {
		if (seq_after(r.seq) > k->scan_next)
			k->scan_next = seq_after(r.seq);
		if (next->have && r.seq >= next->value && kmsg_record_is_vmfork(&r))
			k->scan_found = true;
		return;
	}
	if (next->have && r.seq < next->value)
		return;		/* seen before this restart */
	/* Set before the report: a raise persists it in the same write. */
	core_set_position(n->core, ID, seq_after(r.seq));
	if (kmsg_record_is_vmfork(&r)) {
		log_notice("Kernel reports a VM fork (kmsg seq %llu)", (unsigned long long)r.seq);
		core_vm_fork(n->core, ID);
	}
}

/* Split a chunk into lines, carrying an unfinished line over to the next read. */
static void feed(struct notifier *n, const char *buf, size_t len)
{
	struct kmsg *k = n->priv;

	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t l = nl ? (size_t)(nl - buf) : len;

		if (!k->line_overflow) {
			if (k->line_len + l > sizeof(k->line)) {
				k->line_overflow = true;
			} else {
				memcpy(k->line + k->line_len, buf, l);
				k->line_len += l;
			}
		}
		if (!nl)
			break;
		if (!k->line_overflow)
			handle_line(n, k->line, k->line_len);
		k->line_len = 0;
		k->line_overflow = false;
		buf += l + 1;
		len -= l + 1;
	}
}

/* Read everything available now. Return: 0, or -errno on a fatal error. */
static int drain(struct notifier *n)
{
	struct kmsg *k = n->priv;
	char buf[KMSG_BUF];

	for (;;) {
		ssize_t r = read(k->src.fd, buf, sizeof(buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {
				/*
				 * Records were overwritten before we read them; one may have been
				 * the VM fork. Raising for nothing costs a reseed, missing a
				 * clone costs repeated output.
				 */
				log_warning("kmsg records were overwritten before snapsafed read them; "
					    "raising in case one reported a VM fork");
				if (k->scanning)
					k->scan_found = true;
				else
					core_vm_fork(n->core, ID);
				continue;
			}
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (r == 0)
			return 0;	/* a regular file at its end */
		feed(n, buf, (size_t)r);
	}
}

static void kmsg_dispatch(struct notifier *n, struct source *s, uint32_t events)
{
	struct kmsg *k = n->priv;
	int r;

	if (s == &k->tick)
		timer_expired(s);
	r = drain(n);
	if (r < 0) {
		log_error_errno(r, "Reading kmsg failed; the vmfork-kmsg notifier stops");
		source_close(n->loop, &k->src);
		source_close(n->loop, &k->tick);
		notifier_set_live(n, false);
	}
}

static int open_log(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	/* O_RDWR on a FIFO: we hold a writer ourselves, so a test's writer leaving is no EOF. */
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		close(fd);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	}
	return fd < 0 ? -errno : fd;
}

static int kmsg_open(struct notifier *n)
{
	const char *path = n->opt->kmsg_path ? n->opt->kmsg_path : "/dev/kmsg";
	bool explicit = n->opt->kmsg_path != NULL;
	struct kmsg *k = n->priv;
	struct stat st;
	int fd, r;

	k->src.fd = k->tick.fd = -1;
	fd = open_log(path);
	if (fd < 0) {
		if (explicit)
			return log_error_errno(fd, "vmfork-kmsg: cannot open --kmsg-path %s", path);
		log_info("vmfork-kmsg: cannot open %s (%s): off", path, strerror(-fd));
		return 0;
	}
	notifier_source(n, &k->src, fd);
	if (fstat(fd, &st) < 0)
		return explicit ? log_error_errno(errno, "vmfork-kmsg: %s", path) : 0;
	/* Without a vmgenid device the kernel never logs the record: claiming it would lie. */
	if (!explicit && !vmgenid_device_present()) {
		log_info("vmfork-kmsg: no vmgenid device: off");
		return 0;
	}

	/* Catch up: what the log holds now either predates us or was missed while down. */
	k->scanning = true;
	r = drain(n);
	k->scanning = false;
	k->line_len = 0;
	k->line_overflow = false;
	if (r < 0) {
		if (explicit)
			return log_error_errno(r, "vmfork-kmsg: reading %s", path);
		log_warning_errno(r, "vmfork-kmsg: reading %s: off", path);
		return 0;
	}
	if (k->scan_found) {
		log_notice("vmfork-kmsg: a VM fork was logged while snapsafed was not running");
		core_missed(n->core, ID, 0);
	}
	/*
	 * The baseline: past everything the log holds now. The first start with an empty
	 * log has one too, sequence 0, so that a record logged after it is new even when
	 * the daemon is down by then; it is persisted before the socket opens.
	 */
	if (!core_position(n->core, ID)->have || k->scan_next > core_position(n->core, ID)->value)
		core_set_position(n->core, ID, k->scan_next);

	if (S_ISREG(st.st_mode)) {
		notifier_source(n, &k->tick, -1);
		r = event_loop_add_timer(n->loop, &k->tick, FILE_POLL_MS);
	} else {
		r = event_loop_add(n->loop, &k->src, EPOLLIN);
	}
	if (r < 0) {
		log_error_errno(r, "vmfork-kmsg: epoll on %s", path);
		return explicit ? r : 0;
	}
	log_info("vmfork-kmsg: reading %s from seq %llu: live", path,
		 (unsigned long long)core_position(n->core, ID)->value);
	return 1;
}

static void kmsg_close(struct notifier *n)
{
	struct kmsg *k = n->priv;

	source_close(n->loop, &k->tick);
	source_close(n->loop, &k->src);
}

const struct notifier_ops notifier_kmsg = {
	.id = ID,
	.priv_size = sizeof(struct kmsg),
	.open = kmsg_open,
	.dispatch = kmsg_dispatch,
	.close = kmsg_close,
};
