/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When may the engine serve from userspace state? (docs/security.md, "The rule the
 * library follows")
 *
 *   never   the kernel serves every request.
 *   always  the engine serves whenever its memory is fork-safe: for machines that
 *           are never snapshotted (fork safety only). A quiesced page still wins.
 *   auto    (default) the engine serves only while a source that covers VM
 *           snapshots is live and the system is not quiesced: a VMClock page (its
 *           disruption marker changes on every restore), a kernel /dev/sysgenid, or a
 *           running daemon with a VM notifier live. After the VMClock page showed a
 *           restore, a seed without a per-clone hardware input waits for the daemon's
 *           raise (the kernel serves meanwhile): see policy.c.
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
 * @hw_mixed: the seed about to be used mixes a per-clone hardware input (hwrng.h), so a
 * restore seen on the VMClock page needs no wait for the kernel's own reseed
 */
bool policy_engine_allowed(bool hw_mixed);

#endif
