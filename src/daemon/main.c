/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafed: the system generation service (docs/daemon.md). Parses the options,
 * restores the persisted state, opens the page, the compat file, the notifiers and
 * the control socket, in that order so that everything a client can see exists
 * before the socket accepts and before readiness is reported, then runs the epoll
 * loop until SIGTERM/SIGINT, and on a clean exit tells the page readers that no
 * daemon is running any more.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "log.h"
#include "protocol.h"
#include "runtime-dir.h"

#ifndef SNAPSAFE_VERSION
#define SNAPSAFE_VERSION "unknown"
#endif

static void help(void)
{
	printf("Usage: snapsafed [OPTIONS]\n"
	       "The system generation service: raises a generation on VM snapshot, clone and\n"
	       "restore events and publishes it in a shared page and over a control socket.\n\n"
	       "  --runtime-dir DIR       runtime directory (default $SNAPSAFE_RUNTIME_DIR or %s)\n"
	       "  --sysgenid-compat PATH  also publish the generation as a /dev/sysgenid-like file\n"
	       "  --timer SECONDS         a new epoch every SECONDS (0: off, the default)\n"
	       "  --control-group GROUP   members of GROUP may trigger, quiesce and resume\n"
	       "  --kmsg-path PATH        read kernel records from PATH (default /dev/kmsg)\n"
	       "  --uevent, --no-uevent   listen for NEW_VMGENID uevents, or not (default: on\n"
	       "                          Linux 6.8 with a vmgenid device, the only kernel that\n"
	       "                          sends them)\n"
	       "  --vmclock-path PATH     VMClock device (default /dev/vmclock0)\n"
	       "  --sysgenid-path PATH    kernel SysGenID device to mirror (default /dev/sysgenid)\n"
	       "  -v, --verbose           debug messages\n"
	       "  -h, --help              this help\n"
	       "      --version           the version\n",
	       SNAPSAFE_RUNTIME_DIR_DEFAULT);
}

enum {
	OPT_RUNTIME_DIR = 256, OPT_COMPAT, OPT_TIMER, OPT_GROUP, OPT_KMSG, OPT_UEVENT,
	OPT_NO_UEVENT, OPT_VMCLOCK, OPT_SYSGENID, OPT_VERSION,
};

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Return: 1 to run, 0 to exit successfully, -EINVAL on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "runtime-dir",	required_argument,	NULL, OPT_RUNTIME_DIR },
		{ "sysgenid-compat",	required_argument,	NULL, OPT_COMPAT },
		{ "timer",		required_argument,	NULL, OPT_TIMER },
		{ "control-group",	required_argument,	NULL, OPT_GROUP },
		{ "kmsg-path",		required_argument,	NULL, OPT_KMSG },
		{ "uevent",		no_argument,		NULL, OPT_UEVENT },
		{ "no-uevent",		no_argument,		NULL, OPT_NO_UEVENT },
		{ "vmclock-path",	required_argument,	NULL, OPT_VMCLOCK },
		{ "sysgenid-path",	required_argument,	NULL, OPT_SYSGENID },
		{ "verbose",		no_argument,		NULL, 'v' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "version",		no_argument,		NULL, OPT_VERSION },
		{}
	};
	int c;

	o->uevent = UEVENT_AUTO;
	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) >= 0) {
		switch (c) {
		case OPT_RUNTIME_DIR:
			o->runtime_dir = optarg;
			break;
		case OPT_COMPAT:
			o->compat_path = optarg;
			break;
		case OPT_TIMER:
			if (parse_uint(optarg, 1u << 30, &o->timer_sec) < 0) {
				log_error("Invalid --timer value: %s", optarg);
				return -EINVAL;
			}
			break;
		case OPT_GROUP: {
			struct group *g = getgrnam(optarg);
			unsigned gid;

			if (g) {
				o->group = g->gr_gid;
			} else if (parse_uint(optarg, UINT32_MAX - 1, &gid) == 0) {
				o->group = (gid_t)gid;
			} else {
				log_error("Unknown group: %s", optarg);
				return -EINVAL;
			}
			o->have_group = true;
			break;
		}
		case OPT_KMSG:
			o->kmsg_path = optarg;
			break;
		case OPT_UEVENT:
			o->uevent = UEVENT_ON;
			break;
		case OPT_NO_UEVENT:
			o->uevent = UEVENT_OFF;
			break;
		case OPT_VMCLOCK:
			o->vmclock_path = optarg;
			break;
		case OPT_SYSGENID:
			o->sysgenid_path = optarg;
			break;
		case 'v':
			log_set_max_level(LOG_DEBUG);
			break;
		case 'h':
			help();
			return 0;
		case OPT_VERSION:
			printf("snapsafed %s (protocol %d, page version %d)\n", SNAPSAFE_VERSION,
			       PROTOCOL_VERSION, SNAPSAFE_PAGE_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument: %s", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

static void signal_dispatch(struct daemon *d, struct source *s, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(s->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
		log_info("Signal %u: exiting", si.ssi_signo);
		d->quit = true;
	}
}

/* Up to 4096 clients plus our own descriptors. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void restore_state(struct daemon *d)
{
	char boot_id[40] = "";
	int r;

	r = state_load(d->state_path, &d->state);
	if (r < 0 && r != -ENOENT)
		log_warning_errno(r, "Cannot read %s; continuing from the page", d->state_path);
	if (state_read_boot_id(boot_id, sizeof(boot_id)) == 0) {
		/* kmsg sequence numbers restart at each boot: an old position means nothing. */
		if (d->state.boot_id[0] && strcmp(d->state.boot_id, boot_id) != 0)
			d->state.have_kmsg_next = false;
		memcpy(d->state.boot_id, boot_id, sizeof(boot_id));
	}
	d->generation = d->state.generation;
	d->epoch_counter = d->state.epoch_counter;
	/* The page also remembers: never go below what any reader may have seen. */
	if (__atomic_load_n(&d->page->magic, __ATOMIC_RELAXED) == SNAPSAFE_PAGE_MAGIC) {
		uint64_t ge = snapsafe_page_gen_epoch(d->page);
		uint32_t g = (uint32_t)ge, e = SNAPSAFE_EPOCH_COUNTER((uint32_t)(ge >> 32));

		if (g > d->generation)
			d->generation = g;
		if (e > d->epoch_counter)
			d->epoch_counter = e;
		d->quiesced = __atomic_load_n(&d->page->flags, __ATOMIC_RELAXED) &
			      SNAPSAFE_PAGE_QUIESCED;
		d->last_raise_ns = __atomic_load_n(&d->page->last_raise_ns, __ATOMIC_RELAXED);
	}
}

static void start_notifiers(struct daemon *d)
{
	daemon_set_live(d, SNAPSAFE_NOTIFIER_CONTROL, true);
	daemon_set_live(d, SNAPSAFE_NOTIFIER_VMFORK_KMSG, notifier_kmsg_start(d) > 0);
	daemon_set_live(d, SNAPSAFE_NOTIFIER_UEVENT, notifier_uevent_start(d) > 0);
	daemon_set_live(d, SNAPSAFE_NOTIFIER_VMCLOCK, notifier_vmclock_start(d) > 0);
	daemon_set_live(d, SNAPSAFE_NOTIFIER_SYSGENID, notifier_sysgenid_start(d) > 0);
	daemon_set_live(d, SNAPSAFE_NOTIFIER_TIMER, notifier_timer_start(d) > 0);
	if (!(d->live & SNAPSAFE_NOTIFIERS_COVER_VM))
		log_warning("No notifier covers VM snapshots on this system: libraries will serve "
			    "random bytes from the kernel");
}

static void stop_notifiers(void)
{
	notifier_kmsg_stop();
	notifier_uevent_stop();
	notifier_vmclock_stop();
	notifier_sysgenid_stop();
	notifier_timer_stop();
}

int main(int argc, char **argv)
{
	static struct daemon d = { .epoll_fd = -1, .page_fd = -1 };
	struct source sig = { .fd = -1, .dispatch = signal_dispatch };
	const char *dir;
	sigset_t mask;
	int r, status = EXIT_SUCCESS;

	log_set_prefix(1, "snapsafed");
	r = parse_options(argc, argv, &d.opt);
	if (r <= 0)
		return r < 0 ? 2 : 0;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	raise_fd_limit();

	dir = runtime_dir(d.opt.runtime_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_error_errno(errno, "Cannot create %s", dir);
		return 1;
	}
	if (runtime_path(d.page_path, sizeof(d.page_path), dir, SNAPSAFE_PAGE_FILE) < 0 ||
	    runtime_path(d.state_path, sizeof(d.state_path), dir, SNAPSAFE_STATE_FILE) < 0 ||
	    runtime_path(d.socket_path, sizeof(d.socket_path), dir, SNAPSAFE_SOCKET_FILE) < 0) {
		log_error("Runtime directory path too long: %s", dir);
		return 1;
	}

	d.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.epoll_fd < 0 || sig.fd < 0 || daemon_add_source(&d, &sig, EPOLLIN) < 0) {
		log_error_errno(errno, "epoll/signalfd");
		return 1;
	}
	if (page_open(d.page_path, &d.page_fd, &d.page) < 0)
		return 1;
	restore_state(&d);
	if (d.opt.compat_path && compat_open(d.opt.compat_path, &d.compat) < 0)
		return 1;

	start_notifiers(&d);
	/* The first publication: RUNNING, our pid, the live notifiers, a new epoch. */
	if (d.startup_raise)
		daemon_raise(&d, SNAPSAFE_NOTIFIER_STARTUP, d.startup_min_gen);
	else
		daemon_new_epoch(&d, SNAPSAFE_NOTIFIER_NONE);
	if (daemon_save_state(&d) < 0)
		return 1;
	if (server_start(&d) < 0)
		return 1;
	log_info("Ready: generation %u, runtime directory %s", d.generation, dir);
#if HAVE_LIBSYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=Generation %u", d.generation);
#endif

	while (!d.quit) {
		struct epoll_event ev[64];
		int n = epoll_wait(d.epoll_fd, ev, 64, server_timeout_ms(&d));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno(errno, "epoll_wait");
			/* A failure, so that systemd's Restart= brings the notifiers back. */
			status = EXIT_FAILURE;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct source *s = ev[i].data.ptr;

			s->dispatch(&d, s, ev[i].events);
		}
		server_tick(&d);
	}

#if HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	d.quit = true;
	server_stop(&d);
	stop_notifiers();
	/* Readers see RUNNING and the live bits cleared with a new epoch: serve from the kernel. */
	daemon_new_epoch(&d, SNAPSAFE_NOTIFIER_NONE);
	d.compat = compat_close(d.compat);
	page_close(d.page_fd, d.page);
	close(sig.fd);
	close(d.epoll_fd);
	return status;
}
