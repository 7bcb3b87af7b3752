/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When may the engine serve from userspace state? (docs/security.md, "The rule the
 * library follows")
 *
 *   never   the kernel serves every request.
 *   always  the engine serves whenever its memory is fork-safe: for machines that
 *           are never snapshotted (fork safety only). A quiesced page still wins.
 *   auto    (default) the engine serves only while a source that covers VM
 *           snapshots is live and the system is not quiesced: a VMClock counter the
 *           host says is there (flags bit 8), a kernel /dev/sysgenid, or a running
 *           daemon with a VM notifier live.
 *
 * Read from SNAPSAFE_ENGINE with secure_getenv, once per process.
 */
#ifndef SNAPSAFE_LIB_POLICY_H
#define SNAPSAFE_LIB_POLICY_H

#include <stdbool.h>

enum engine_mode {
	ENGINE_AUTO,
	ENGINE_ALWAYS,
	ENGINE_NEVER,
};

enum engine_mode policy_mode(void);
const char *policy_mode_name(enum engine_mode m);

/* For tests: set the mode before the first request. */
void policy_force_mode(enum engine_mode m);

/*
 * policy_engine_allowed() - may the engine serve now? Slow path only: called when
 * the state is seeded and whenever a source word changed.
 */
bool policy_engine_allowed(void);

#endif
