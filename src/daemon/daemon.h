/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafed's shared state: the one struct daemon that every part of the daemon
 * works on (options, the generation and epoch, persisted notifier positions, the
 * page, the compat file, the epoll loop) and the functions each file provides.
 * Single threaded: everything runs from one epoll loop.
 */
#ifndef SNAPSAFE_DAEMON_H
#define SNAPSAFE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "page.h"

struct daemon;

/* Everything on the epoll set is a source; epoll's data.ptr points at it. */
struct source {
	int fd;
	void (*dispatch)(struct daemon *d, struct source *s, uint32_t events);
	void *userdata;
};

/* What survives a restart or kill -9: see state.c and docs/daemon.md. */
struct state {
	uint32_t generation;
	uint32_t epoch_counter;
	bool have_kmsg_next;		/* a kmsg position exists (even an empty log gives one) */
	uint64_t kmsg_next;		/* first kmsg sequence number not handled yet */
	bool have_vmclock;
	uint64_t vmclock_counter;	/* last vm_generation_counter handled */
	bool have_sysgenid;
	uint32_t sysgenid_counter;	/* last /dev/sysgenid value handled */
	char boot_id[40];		/* a different boot invalidates the kmsg position */
};

enum uevent_mode {
	UEVENT_AUTO,	/* only where the kernel sends the event (Linux 6.8 with vmgenid) */
	UEVENT_ON,	/* --uevent */
	UEVENT_OFF,	/* --no-uevent */
};

struct options {
	const char *runtime_dir;
	const char *compat_path;
	unsigned timer_sec;
	bool have_group;
	gid_t group;
	const char *kmsg_path;		/* NULL: /dev/kmsg */
	enum uevent_mode uevent;
	const char *vmclock_path;	/* NULL: /dev/vmclock0 */
	const char *sysgenid_path;	/* NULL: /dev/sysgenid */
};

struct server;
struct compat;

struct daemon {
	struct options opt;
	char page_path[4096];
	char socket_path[108];
	char state_path[4096];

	int epoll_fd;
	bool quit;

	/* The published values; the page mirrors them. */
	uint32_t generation;
	uint32_t epoch_counter;		/* 24 bits are published */
	unsigned epoch_id;
	bool quiesced;
	uint64_t live;			/* bit n: notifier n is live */
	uint64_t last_raise_ns;
	uint64_t last_epoch_ns;

	struct state state;		/* as last written to the state file */

	int page_fd;
	struct snapsafe_page *page;
	struct compat *compat;
	struct server *server;

	/* A startup scan found missed events: one STARTUP raise after all scans. */
	bool startup_raise;
	uint32_t startup_min_gen;
};

/* daemon.c: the generation, the epoch and their publication. */
uint64_t now_realtime_ns(void);
uint64_t now_monotonic_ms(void);
int daemon_add_source(struct daemon *d, struct source *s, uint32_t events);
int daemon_mod_source(struct daemon *d, struct source *s, uint32_t events);
void daemon_del_source(struct daemon *d, struct source *s);
/*
 * daemon_add_timer() - a timerfd that fires every @interval_ms, on the epoll set as @s
 * (whose dispatch and userdata the caller sets). Return: 0, or -errno with s->fd = -1.
 * daemon_timer_expired() - consume the expirations in the dispatch; false if none.
 */
int daemon_add_timer(struct daemon *d, struct source *s, uint64_t interval_ms);
bool daemon_timer_expired(struct source *s);
/*
 * daemon_raise() - a new generation max(current + 1, @min_gen) and a new epoch with
 * @id; persists, publishes (page, compat) and notifies watchers.
 * Return: 0, or -EOVERFLOW when the generation is at UINT32_MAX and cannot grow any
 * more; then only the epoch changes (so that RNGs still reseed).
 */
int daemon_raise(struct daemon *d, unsigned id, uint32_t min_gen);
/*
 * daemon_vm_fork_reported() - kmsg or uevent (@id) saw a VM fork: raise, unless a kernel
 * /dev/sysgenid or VMClock notifier is live, which counts the same fork itself.
 * Return: as daemon_raise(), 0 when left to the device.
 */
int daemon_vm_fork_reported(struct daemon *d, unsigned id);
/* daemon_new_epoch() - a new epoch only (timer, quiesce). */
void daemon_new_epoch(struct daemon *d, unsigned id);
void daemon_set_quiesced(struct daemon *d, bool q);
void daemon_set_live(struct daemon *d, unsigned id, bool live);
/* daemon_save_state() - write d->state (the notifiers update their fields first). */
int daemon_save_state(struct daemon *d);
/* daemon_publish() - write the page and the compat file from the daemon's values. */
void daemon_publish(struct daemon *d);

/* state.c */
int state_load(const char *path, struct state *ret);
int state_save(const char *path, const struct state *s);
int state_read_boot_id(char *buf, size_t size);

/*
 * page.c: page_map_file() - make the open file @fd (named @path, for messages) a
 * client-readable page: a regular file, mode 0644, grown (never shrunk) to one page,
 * mapped shared read-write into *@ret. Logs and returns a negative errno on failure.
 */
int page_map_file(int fd, const char *path, void **ret);
int page_open(const char *path, int *ret_fd, struct snapsafe_page **ret_page);
void page_write(struct snapsafe_page *p, uint32_t gen, uint32_t epoch, uint32_t flags, pid_t pid,
		uint64_t live, uint64_t last_raise_ns, uint64_t last_epoch_ns);
void page_close(int fd, struct snapsafe_page *p);

/* compat.c */
int compat_open(const char *path, struct compat **ret);
void compat_store(struct compat *c, uint32_t gen);
struct compat *compat_close(struct compat *c);

/*
 * privilege.c: peer_privileged() - may the peer of the control connection @fd use
 * TRIGGER, QUIESCE and RESUME (uid 0 at connect time, or CAP_CHECKPOINT_RESTORE or
 * @group while still the process and identity that connected)?
 * Return: 1 yes, 0 no, negative errno when it cannot tell (treated as no).
 */
int peer_privileged(int fd, bool have_group, gid_t group);

/* server.c */
int server_start(struct daemon *d);
void server_stop(struct daemon *d);
/* server_raised() - send GEN to watchers, recount outdated, interrupt waiters. */
void server_raised(struct daemon *d);
/* server_timeout_ms() - how long epoll may sleep; server_tick() - handle deadlines. */
int server_timeout_ms(struct daemon *d);
void server_tick(struct daemon *d);

/* notifier-*.c: each returns 1 when live, 0 when its source is absent, <0 on error. */
int notifier_kmsg_start(struct daemon *d);
int notifier_uevent_start(struct daemon *d);
int notifier_vmclock_start(struct daemon *d);
int notifier_sysgenid_start(struct daemon *d);
int notifier_timer_start(struct daemon *d);
void notifier_kmsg_stop(void);
void notifier_uevent_stop(void);
void notifier_vmclock_stop(void);
void notifier_sysgenid_stop(void);
void notifier_timer_stop(void);
/* A vmgenid device is bound: the kmsg record and the uevent can happen at all. */
bool vmgenid_device_present(void);

/* The pure parsers, fuzzed. */
struct kmsg_record {
	unsigned priority;	/* facility << 3 | level */
	uint64_t seq;
	uint64_t ts_usec;
	const char *text;	/* points into the line */
	size_t text_len;
};
/* kmsg_record_parse() - one "pri,seq,ts,flags[,...];text" line without its '\n'. */
int kmsg_record_parse(const char *line, size_t len, struct kmsg_record *ret);
/* kmsg_record_is_vmfork() - facility 0 (kernel) and the crng VM-fork text. */
bool kmsg_record_is_vmfork(const struct kmsg_record *r);
/* uevent_is_new_vmgenid() - ACTION=change with NEW_VMGENID=1, in a kernel uevent payload. */
bool uevent_is_new_vmgenid(const char *buf, size_t len);
struct sockaddr_nl;
/*
 * uevent_accept() - a received uevent datagram that raises: sent by the kernel (netlink
 * port id 0; @salen is the received address length), not truncated (@msg_flags), and
 * uevent_is_new_vmgenid().
 */
bool uevent_accept(const struct sockaddr_nl *sa, socklen_t salen, int msg_flags, const char *buf,
		   size_t len);

#endif
