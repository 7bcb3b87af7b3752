/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmfork-kmsg notifier: reads /dev/kmsg (or --kmsg-path, a regular file or FIFO
 * in the same format, for tests) and raises the generation on the kernel's
 * "random: crng reseeded due to virtual machine fork" record, which vmgenid causes
 * through add_vmfork_randomness() (Linux 5.18+).
 *
 * Only facility 0 and exactly the text random.c logs count: the kernel forces a
 * non-zero facility on everything a process writes to /dev/kmsg, and a kernel record
 * that merely quotes the text (audit records quote file names) is another record, so
 * no process can fake it.
 *
 * Records carry a sequence number; the next one to handle is persisted, so a restart
 * raises once for a VM fork it missed, while the first start takes what the log holds
 * as its baseline (the kernel log of a restored VM already holds the record of its
 * own restore). An empty log is a baseline too: every record after it is new, even
 * one logged while the daemon is down.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* random.c: pr_notice("crng reseeded due to virtual machine fork\n") under pr_fmt "random: ". */
#define VMFORK_TEXT "random: crng reseeded due to virtual machine fork"

enum {
	KMSG_BUF	= 16384,	/* /dev/kmsg wants room for one whole record */
	KMSG_LINE_MAX	= 8192,
	FILE_POLL_MS	= 100,		/* a regular file cannot be polled: re-read */
};

struct kmsg {
	struct source src;
	struct source tick;		/* regular files: a timerfd to re-read */
	struct daemon *d;
	bool is_regular;
	char line[KMSG_LINE_MAX];
	size_t line_len;
	bool line_overflow;		/* dropping the rest of an over-long line */
	/* The catch-up scan at start. */
	bool scanning;
	uint64_t scan_next;		/* one past the newest record seen */
	bool scan_found;
	bool seq_dirty;
};

static struct kmsg *kmsg_state;

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned dgt;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -EINVAL;
		v = v * 10 + dgt;
	}
	*ret = v;
	return 0;
}

int kmsg_record_parse(const char *line, size_t len, struct kmsg_record *ret)
{
	const char *semi, *p, *end;
	uint64_t f[3];

	semi = memchr(line, ';', len);
	if (!semi)
		return -EBADMSG;
	/* The prefix: "pri,seq,ts,flags" and possibly more comma-separated fields. */
	p = line;
	for (unsigned i = 0; i < 3; i++) {
		end = p;
		while (end < semi && *end != ',')
			end++;
		if (parse_u64(p, (size_t)(end - p), &f[i]) < 0)
			return -EBADMSG;
		if (end == semi)
			return -EBADMSG;	/* the flags field is required */
		p = end + 1;
	}
	if (f[0] > 0xffffffffull)
		return -EBADMSG;
	*ret = (struct kmsg_record) {
		.priority = (unsigned)f[0],
		.seq = f[1],
		.ts_usec = f[2],
		.text = semi + 1,
		.text_len = len - (size_t)(semi + 1 - line),
	};
	return 0;
}

bool kmsg_record_is_vmfork(const struct kmsg_record *r)
{
	/* Facility 0 is the kernel: a process writing to /dev/kmsg never gets it. */
	if ((r->priority >> 3) != 0)
		return false;
	/*
	 * The whole text, not a part of it: kernel records also quote what processes chose
	 * (an audit or AppArmor record with a file name, a file system message with a label),
	 * and such a record would carry facility 0 around a forged VM-fork text.
	 */
	return r->text_len == sizeof(VMFORK_TEXT) - 1 &&
	       memcmp(r->text, VMFORK_TEXT, sizeof(VMFORK_TEXT) - 1) == 0;
}

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

static void handle_line(struct kmsg *k, const char *line, size_t len)
{
	struct daemon *d = k->d;
	struct kmsg_record r;

	/* Continuation lines (" KEY=value" dictionary entries) start with a space. */
	if (len == 0 || line[0] == ' ')
		return;
	if (kmsg_record_parse(line, len, &r) < 0)
		return;
	if (k->scanning) {
		if (seq_after(r.seq) > k->scan_next)
			k->scan_next = seq_after(r.seq);
		if (d->state.have_kmsg_next && r.seq >= d->state.kmsg_next &&
		    kmsg_record_is_vmfork(&r))
			k->scan_found = true;
		return;
	}
	if (d->state.have_kmsg_next && r.seq < d->state.kmsg_next)
		return;		/* seen before this restart */
	d->state.have_kmsg_next = true;
	d->state.kmsg_next = seq_after(r.seq);
	k->seq_dirty = true;
	if (kmsg_record_is_vmfork(&r)) {
		log_notice("Kernel reports a VM fork (kmsg seq %llu)", (unsigned long long)r.seq);
		daemon_vm_fork_reported(d, SNAPSAFE_NOTIFIER_VMFORK_KMSG);
	}
}

/* Split a chunk into lines, carrying an unfinished line over to the next read. */
static void feed(struct kmsg *k, const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		if (!k->line_overflow) {
			if (k->line_len + n > sizeof(k->line)) {
				k->line_overflow = true;
			} else {
				memcpy(k->line + k->line_len, buf, n);
				k->line_len += n;
			}
		}
		if (!nl) {
			break;
		}
		if (!k->line_overflow)
			handle_line(k, k->line, k->line_len);
		k->line_len = 0;
		k->line_overflow = false;
		buf += n + 1;
		len -= n + 1;
	}
}

/* Read everything available now. Return: 0, or -errno on a fatal error. */
static int drain(struct kmsg *k)
{
	char buf[KMSG_BUF];

	for (;;) {
		ssize_t n = read(k->src.fd, buf, sizeof(buf));

		if (n < 0) {
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
					daemon_vm_fork_reported(k->d, SNAPSAFE_NOTIFIER_VMFORK_KMSG);
				continue;
			}
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (n == 0)
			break;	/* a regular file at its end */
		feed(k, buf, (size_t)n);
	}
	if (k->seq_dirty) {
		daemon_save_state(k->d);
		k->seq_dirty = false;
	}
	return 0;
}

static void kmsg_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	struct kmsg *k = s->userdata;
	int r;

	if (s == &k->tick)
		daemon_timer_expired(s);
	r = drain(k);
	if (r < 0) {
		log_error_errno(r, "Reading kmsg failed; the vmfork-kmsg notifier stops");
		daemon_del_source(d, &k->src);
		if (k->tick.fd >= 0)
			daemon_del_source(d, &k->tick);
		daemon_set_live(d, SNAPSAFE_NOTIFIER_VMFORK_KMSG, false);
		daemon_publish(d);
	}
}

int notifier_kmsg_start(struct daemon *d)
{
	const char *path = d->opt.kmsg_path ? d->opt.kmsg_path : "/dev/kmsg";
	struct kmsg *k;
	struct stat st;
	int fd, r;

	/* O_RDWR on a FIFO: we hold a writer ourselves, so a test's writer leaving is no EOF. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		close(fd);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0) {
		log_info("vmfork-kmsg: cannot open %s (%m): off", path);
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	/* Without a vmgenid device the kernel never logs the record: claiming it would lie. */
	if (!d->opt.kmsg_path && !vmgenid_device_present()) {
		log_info("vmfork-kmsg: no vmgenid device: off");
		close(fd);
		return 0;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		close(fd);
		return -ENOMEM;
	}
	k->d = d;
	k->src = (struct source) { .fd = fd, .dispatch = kmsg_dispatch, .userdata = k };
	k->tick.fd = -1;
	k->is_regular = S_ISREG(st.st_mode);

	/* Catch up: what the log holds now either predates us or was missed while down. */
	k->scanning = true;
	r = drain(k);
	k->scanning = false;
	k->line_len = 0;
	k->line_overflow = false;
	if (r < 0) {
		log_warning_errno(r, "vmfork-kmsg: reading %s", path);
		close(fd);
		free(k);
		return 0;
	}
	if (k->scan_found) {
		log_notice("vmfork-kmsg: a VM fork was logged while snapsafed was not running");
		d->startup_raise = true;
	}
	/*
	 * The baseline: past everything the log holds now. The first start with an empty
	 * log has one too, sequence 0, so that a record logged after it is new even when
	 * the daemon is down by then; main() saves it before the socket opens.
	 */
	if (!d->state.have_kmsg_next || k->scan_next > d->state.kmsg_next) {
		d->state.kmsg_next = k->scan_next;
		d->state.have_kmsg_next = true;
	}

	if (k->is_regular) {
		k->tick.dispatch = kmsg_dispatch;
		k->tick.userdata = k;
		r = daemon_add_timer(d, &k->tick, FILE_POLL_MS);
	} else {
		r = daemon_add_source(d, &k->src, EPOLLIN);
	}
	if (r < 0) {
		log_warning_errno(r, "vmfork-kmsg: epoll");
		goto fail;
	}
	kmsg_state = k;
	log_info("vmfork-kmsg: reading %s from seq %llu: live", path,
		 (unsigned long long)d->state.kmsg_next);
	return 1;
fail:
	if (k->tick.fd >= 0)
		close(k->tick.fd);
	close(fd);
	free(k);
	return 0;
}

void notifier_kmsg_stop(void)
{
	struct kmsg *k = kmsg_state;

	if (!k)
		return;
	if (k->tick.fd >= 0)
		close(k->tick.fd);
	close(k->src.fd);
	free(k);
	kmsg_state = NULL;
}
