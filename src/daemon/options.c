/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* snapsafed's command line (see options.h). */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "options.h"
#include "page.h"
#include "parse-number.h"
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
	       "  --max-clients N         connections in all (default %d)\n"
	       "  --max-clients-per-uid N connections of one non-root user (default %d)\n"
	       "  --reserved-clients N    of those, kept for privileged peers (default %d)\n"
	       "  --kmsg-path PATH        read kernel records from PATH (default /dev/kmsg)\n"
	       "  --uevent, --no-uevent   listen for NEW_VMGENID uevents, or not (default: on\n"
	       "                          Linux 6.8 with a vmgenid device, the only kernel that\n"
	       "                          sends them)\n"
	       "  --vmclock-path PATH     VMClock device (default /dev/vmclock0)\n"
	       "  --sysgenid-path PATH    kernel SysGenID device to mirror (default /dev/sysgenid)\n"
	       "  --vsock-port PORT       also serve the control protocol on vsock PORT (any CID)\n"
	       "  --vsock-allow RULES     who may do what over vsock: WHO:LEVEL,... with WHO a\n"
	       "                          CID, host, local or any, LEVEL control, read or none\n"
	       "                          (default " VSOCK_POLICY_DEFAULT ")\n"
	       "  -v, --verbose           debug messages\n"
	       "  -h, --help              this help\n"
	       "  -V, --version           the version\n"
	       "A path given explicitly must work; the default devices may be absent.\n",
	       SNAPSAFE_RUNTIME_DIR_DEFAULT, OPTIONS_MAX_CLIENTS_DEFAULT,
	       OPTIONS_MAX_PER_UID_DEFAULT, OPTIONS_RESERVED_DEFAULT);
}

enum {
	OPT_RUNTIME_DIR = 256, OPT_COMPAT, OPT_TIMER, OPT_GROUP, OPT_KMSG, OPT_UEVENT,
	OPT_NO_UEVENT, OPT_VMCLOCK, OPT_SYSGENID, OPT_MAX_CLIENTS, OPT_MAX_PER_UID,
	OPT_RESERVED, OPT_VSOCK_PORT, OPT_VSOCK_ALLOW,
};

static int usage_error(const char *what, const char *arg)
{
	log_error("%s: %s (see snapsafed --help)", what, arg);
	return -EINVAL;
}

static int parse_count(const char *arg, unsigned min, unsigned max, unsigned *ret,
		       const char *name)
{
	uint64_t v;

	if (parse_uint_str(arg, 10, max, &v) < 0 || v < min)
		return usage_error(name, arg);
	*ret = (unsigned)v;
	return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "runtime-dir",		required_argument,	NULL, OPT_RUNTIME_DIR },
		{ "sysgenid-compat",		required_argument,	NULL, OPT_COMPAT },
		{ "timer",			required_argument,	NULL, OPT_TIMER },
		{ "control-group",		required_argument,	NULL, OPT_GROUP },
		{ "max-clients",		required_argument,	NULL, OPT_MAX_CLIENTS },
		{ "max-clients-per-uid",	required_argument,	NULL, OPT_MAX_PER_UID },
		{ "reserved-clients",		required_argument,	NULL, OPT_RESERVED },
		{ "kmsg-path",			required_argument,	NULL, OPT_KMSG },
		{ "uevent",			no_argument,		NULL, OPT_UEVENT },
		{ "no-uevent",			no_argument,		NULL, OPT_NO_UEVENT },
		{ "vmclock-path",		required_argument,	NULL, OPT_VMCLOCK },
		{ "sysgenid-path",		required_argument,	NULL, OPT_SYSGENID },
		{ "vsock-port",			required_argument,	NULL, OPT_VSOCK_PORT },
		{ "vsock-allow",		required_argument,	NULL, OPT_VSOCK_ALLOW },
		{ "verbose",			no_argument,		NULL, 'v' },
		{ "help",			no_argument,		NULL, 'h' },
		{ "version",			no_argument,		NULL, 'V' },
		{}
	};
	int c, r = 0;

	*o = (struct options) {
		.uevent = UEVENT_AUTO,
		.max_clients = OPTIONS_MAX_CLIENTS_DEFAULT,
		.max_clients_per_uid = OPTIONS_MAX_PER_UID_DEFAULT,
		.reserved_clients = OPTIONS_RESERVED_DEFAULT,
	};
	(void)vsock_policy_parse(VSOCK_POLICY_DEFAULT, &o->vsock_policy);
	/* getopt's own messages name the option; ours add where to look. */
	opterr = 0;
	while (r == 0 && (c = getopt_long(argc, argv, "hvV", longopts, NULL)) >= 0) {
		switch (c) {
		case OPT_RUNTIME_DIR:
			o->runtime_dir = optarg;
			break;
		case OPT_COMPAT:
			o->compat_path = optarg;
			break;
		case OPT_TIMER:
			r = parse_count(optarg, 0, 1u << 30, &o->timer_sec, "Invalid --timer value");
			break;
		case OPT_MAX_CLIENTS:
			r = parse_count(optarg, 1, PROTOCOL_MAX_CLIENTS, &o->max_clients,
					"Invalid --max-clients value");
			break;
		case OPT_MAX_PER_UID:
			r = parse_count(optarg, 1, PROTOCOL_MAX_CLIENTS, &o->max_clients_per_uid,
					"Invalid --max-clients-per-uid value");
			break;
		case OPT_RESERVED:
			r = parse_count(optarg, 0, PROTOCOL_MAX_CLIENTS, &o->reserved_clients,
					"Invalid --reserved-clients value");
			break;
		case OPT_GROUP: {
			struct group *g = getgrnam(optarg);
			uint64_t gid;

			if (g)
				o->group = g->gr_gid;
			else if (parse_uint_str(optarg, 10, UINT32_MAX - 1, &gid) == 0)
				o->group = (gid_t)gid;
			else
				r = usage_error("Unknown group", optarg);
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
		case OPT_VSOCK_PORT: {
			uint64_t port;

			/* VMADDR_PORT_ANY (UINT32_MAX) would bind a port of the kernel's choosing. */
			if (parse_uint_str(optarg, 10, UINT32_MAX - 1, &port) < 0 || port == 0)
				r = usage_error("Invalid --vsock-port value", optarg);
			else
				o->vsock_port = (uint32_t)port;
			break;
		}
		case OPT_VSOCK_ALLOW:
			if (vsock_policy_parse(optarg, &o->vsock_policy) < 0)
				r = usage_error("Invalid --vsock-allow rules (WHO:LEVEL,... with WHO a "
						"CID, host, local or any and LEVEL control, read or "
						"none)", optarg);
			o->vsock_policy_explicit = true;
			break;
		case 'v':
			log_set_max_level(LOG_DEBUG);
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("snapsafed %s (protocol %d, page version %d)\n", SNAPSAFE_VERSION,
			       PROTOCOL_VERSION, SNAPSAFE_PAGE_VERSION);
			return 0;
		case ':':
			return usage_error("Option needs an argument", argv[optind - 1]);
		default:
			return usage_error("Unknown option", argv[optind - 1]);
		}
	}
	if (r < 0)
		return r;
	if (optind < argc)
		return usage_error("Unexpected argument", argv[optind]);
	if (o->vsock_policy_explicit && !o->vsock_port) {
		log_error("--vsock-allow needs --vsock-port (see snapsafed --help)");
		return -EINVAL;
	}
	if (o->reserved_clients >= o->max_clients) {
		log_error("--reserved-clients (%u) must be below --max-clients (%u) (see snapsafed "
			  "--help)", o->reserved_clients, o->max_clients);
		return -EINVAL;
	}
	return 1;
}
