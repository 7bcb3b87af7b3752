/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafed: the system generation service (docs/daemon.md). The start-up order is the
 * point of this file:
 *
 *  1. the runtime directory and the page (locked: one daemon per directory; from here on
 *     it says "no daemon runs"), the state file and the compat file, whose values are
 *     floors for the generation;
 *  2. take-over: the page says "no daemon runs", with a new epoch, so that libraries stop
 *     trusting what a dead predecessor left there, and the state file must take a write;
 *  3. the notifiers (an explicitly named source that fails stops here, exit 2), then the
 *     control socket;
 *  4. only then RUNNING and the live set, with the raise for events missed while down.
 *
 * Every exit after take-over goes through core_stop(), which clears RUNNING with a new
 * epoch: a failed start, SIGTERM/SIGINT/SIGQUIT, a failed event loop. A fatal signal
 * clears it from its handler. SIGHUP is logged and otherwise ignored (nothing to reload).
 * Exit status: 0 clean, 1 failure, 2 bad command line or notifier configuration.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "compat-file.h"
#include "core.h"
#include "event-loop.h"
#include "files.h"
#include "journal.h"
#include "listener-vsock.h"
#include "log.h"
#include "notifier.h"
#include "options.h"
#include "page-file.h"
#include "protocol.h"
#include "runtime-dir.h"
#include "server.h"
#include "state-file.h"

enum {
	EXIT_USAGE = 2,
};

struct daemon {
	struct options opt;
	const char *runtime_dir;
	char page_path[4096];
	char state_path[4096];
	char socket_path[108];
	struct event_loop *loop;
	struct source sig;
	bool quit;
	struct core *core;
	struct page_file *page;
	struct state_file *state;
	struct compat_file *compat;
	struct notifiers *notifiers;
	struct server *server;
	struct listener_vsock *vsock;
};

/* Signals that end the daemon cleanly, through the event loop. */
static const int clean_signals[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP };

/*
 * Signals whose default action would kill us with RUNNING still in the page: the handler
 * clears it (async-signal-safe stores into the mapping), then the signal does what it
 * would have done.
 */
static const int fatal_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ, SIGUSR1,
	SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,
};

static void fatal_signal_handler(int sig)
{
	page_file_abandon();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void signal_dispatch(struct source *s, uint32_t events)
{
	struct daemon *d = s->userdata;
	struct signalfd_siginfo si;

	while (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: nothing to reload; options take effect on a restart");
			continue;
		}
		log_info("Signal %s: exiting", strsignal((int)si.ssi_signo));
		d->quit = true;
	}
}

static int setup_signals(struct daemon *d)
{
	struct sigaction sa = { .sa_handler = fatal_signal_handler, .sa_flags = SA_RESETHAND };
	sigset_t mask;
	int r;

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &sa, NULL);
	/* The real-time signals end a process by default too. */
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(clean_signals) / sizeof(clean_signals[0]); i++)
		sigaddset(&mask, clean_signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(errno, "sigprocmask");
	d->sig = (struct source) { .dispatch = signal_dispatch, .userdata = d };
	d->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig.fd < 0)
		return log_error_errno(errno, "signalfd");
	r = event_loop_add(d->loop, &d->sig, EPOLLIN);
	return r < 0 ? log_error_errno(r, "epoll") : 0;
}

/* Up to 4096 clients plus our own descriptors. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int paths(struct daemon *d, const char *dir)
{
	if (runtime_path(d->page_path, sizeof(d->page_path), dir, SNAPSAFE_PAGE_FILE) < 0 ||
	    runtime_path(d->state_path, sizeof(d->state_path), dir, SNAPSAFE_STATE_FILE) < 0 ||
	    runtime_path(d->socket_path, sizeof(d->socket_path), dir, SNAPSAFE_SOCKET_FILE) < 0)
		return log_error_errno(ENAMETOOLONG, "Runtime directory path too long: %s "
				       "(the socket path must fit in %zu bytes)", dir,
				       sizeof(d->socket_path) - 1);
	return 0;
}

/* Step 1: the files and what they remember. */
static int open_files(struct daemon *d)
{
	struct core_values saved;
	char boot_id[40] = "";
	int r;

	r = page_file_open(d->page_path, &d->page);
	if (r < 0)
		return r;
	/*
	 * The page is ours now: whatever a killed predecessor left there stops counting at
	 * once, before any other file can make this start fail.
	 */
	page_file_abandon();
	runtime_dir_remove_stale(d->runtime_dir);
	r = state_file_new(d->state_path, &d->state);
	if (r < 0)
		return log_error_errno(r, "%s", d->state_path);
	r = state_file_load(d->state, &saved);
	if (r < 0)
		return r;
	if (state_read_boot_id(boot_id, sizeof(boot_id)) == 0) {
		/* kmsg sequence numbers restart at each boot: an old position means nothing. */
		if (saved.boot_id[0] && strcmp(saved.boot_id, boot_id) != 0)
			saved.position[SNAPSAFE_NOTIFIER_VMFORK_KMSG].have = false;
		memcpy(saved.boot_id, boot_id, sizeof(saved.boot_id));
	}
	core_restore(d->core, &saved);
	page_file_restore(d->page, d->core);
	if (d->opt.compat_path) {
		r = compat_file_open(d->opt.compat_path, core_values(d->core)->generation,
				     &d->compat);
		if (r < 0)
			return r;
		if (d->compat)
			compat_file_restore(d->compat, d->core);
	}
	/* The order of publication: persist first, then what clients read. */
	core_add_sink(d->core, &state_file_sink, d->state);
	core_add_sink(d->core, &page_file_sink, d->page);
	if (d->compat)
		core_add_sink(d->core, &compat_file_sink, d->compat);
	return 0;
}

static int run(struct daemon *d)
{
	while (!d->quit) {
		uint64_t now = event_loop_now(d->loop);
		int ts = server_timeout_ms(d->server, now), tc = core_timeout_ms(d->core), r;

		r = event_loop_run_once(d->loop, tc >= 0 && (ts < 0 || tc < ts) ? tc : ts);
		if (r < 0 && r != -EINTR)
			return log_error_errno(r, "epoll_wait");
		core_flush(d->core);
		server_tick(d->server, event_loop_now(d->loop));
	}
	return 0;
}

static int start(struct daemon *d, const char *dir)
{
	int r;

	r = runtime_dir_prepare(dir);
	if (r < 0)
		return EXIT_FAILURE;
	r = open_files(d);
	if (r < 0)
		return EXIT_FAILURE;
	r = core_take_over(d->core);
	if (r < 0) {
		log_error_errno(r, "Cannot persist the state in %s", d->state_path);
		return EXIT_FAILURE;
	}
	if (core_values(d->core)->quiesced)
		log_warning("Starting quiesced (a snapshot was in progress): libraries serve from "
			    "the kernel until snapsafectl resume");
	r = notifiers_open(d->core, d->loop, &d->opt, &d->notifiers);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
	r = server_start(d->loop, d->core, &d->opt, d->socket_path, &d->server);
	if (r < 0)
		return EXIT_FAILURE;
	core_add_sink(d->core, &server_sink, d->server);
	/* Asked for explicitly, so it must work, as a named notifier must (exit 2). */
	if (d->opt.vsock_port && listener_vsock_start(d->loop, d->server, &d->opt, &d->vsock) < 0)
		return EXIT_USAGE;
	r = core_start(d->core);
	if (r < 0) {
		log_error_errno(r, "Cannot persist the state in %s", d->state_path);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* The start in the audit trail: what is watched, and who may change the generation. */
static void log_ready(const struct daemon *d, const char *dir)
{
	const struct core_values *v = core_values(d->core);
	char live[256] = "", gen[32], group[48];
	const char *fields[] = { gen, NULL };
	size_t off = 0;

	for (unsigned i = 1; i < _SNAPSAFE_NOTIFIER_MAX; i++)
		if (v->live & (1ull << i)) {
			int n = snprintf(live + off, sizeof(live) - off, "%s%s", off ? "," : "",
					 protocol_notifier_name(i));

			if (n > 0 && (size_t)n < sizeof(live) - off)
				off += (size_t)n;
		}
	snprintf(gen, sizeof(gen), "GENERATION=%u", v->generation);
	if (d->opt.have_group)
		snprintf(group, sizeof(group), "root, ambient CAP_CHECKPOINT_RESTORE, gid %u",
			 (unsigned)d->opt.group);
	else
		snprintf(group, sizeof(group), "root, ambient CAP_CHECKPOINT_RESTORE");
	log_struct(LOG_INFO, LOG_MESSAGE_START, fields, "Ready: generation %u, runtime directory "
		   "%s, live notifiers %s, privileged: %s", v->generation, dir, live, group);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	const char *dir;
	int r, status;

	d.sig.fd = -1;
	log_set_prefix(1, "snapsafed");
	journal_setup();
	r = options_parse(argc, argv, &d.opt);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
	raise_fd_limit();
	dir = runtime_dir(d.opt.runtime_dir);
	d.runtime_dir = dir;
	if (paths(&d, dir) < 0)
		return EXIT_FAILURE;
	if (event_loop_new(&d.loop) < 0 || core_new(&d.core) < 0 || setup_signals(&d) < 0)
		return EXIT_FAILURE;

	status = start(&d, dir);
	if (status == EXIT_SUCCESS) {
		log_ready(&d, dir);
#if HAVE_LIBSYSTEMD
		sd_notifyf(0, "READY=1\nSTATUS=Generation %u", core_values(d.core)->generation);
#endif
		/* A failure, so that systemd's Restart= brings the notifiers back. */
		if (run(&d) < 0)
			status = EXIT_FAILURE;
#if HAVE_LIBSYSTEMD
		sd_notify(0, "STOPPING=1");
#endif
	}
	/* Readers see RUNNING and the live bits cleared with a new epoch: the kernel serves. */
	if (d.core)
		core_stop(d.core);
	d.vsock = listener_vsock_stop(d.vsock);
	d.server = server_stop(d.server);
	d.notifiers = notifiers_close(d.notifiers);
	d.compat = compat_file_close(d.compat);
	d.page = page_file_close(d.page);
	d.state = state_file_free(d.state);
	d.core = core_free(d.core);
	if (d.sig.fd >= 0)
		close(d.sig.fd);
	d.loop = event_loop_free(d.loop);
	return status;
}
