/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe: snapshot-safe random numbers and the system generation ID.
 *
 * Two halves. The RNG (snapsafe_getrandom() and friends) is a per-thread ChaCha20
 * generator that never serves bytes from state another copy of the process or the
 * machine may hold: it reseeds after fork, and after every VM snapshot/clone/restore
 * that the snapsafed daemon (or the kernel) reports. The generation API reads,
 * waits on and acknowledges that system generation (the SysGenID semantics).
 *
 * Conventions: functions returning int return >= 0 on success and a negative errno
 * on failure; snapsafe_getrandom() mimics getrandom(2) and returns -1 with errno set.
 */
#ifndef SNAPSAFE_SNAPSAFE_H
#define SNAPSAFE_SNAPSAFE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>	/* the GRND_* flags of snapsafe_getrandom() */
#include <sys/types.h>

#include <snapsafe/snapsafe-version.h>	/* SNAPSAFE_VERSION_MAJOR, ..., SNAPSAFE_VERSION_STRING */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Random numbers ---------------------------------------------------- */

/**
 * snapsafe_getrandom() - fill a buffer with random bytes, getrandom(2) style.
 * @buf: destination
 * @len: number of bytes
 * @flags: 0 or GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE as for getrandom(2)
 *
 * Return: @len on success (large requests are never short; errno is left alone),
 * -1 with errno set on failure (EINVAL for unknown flags, EAGAIN with GRND_NONBLOCK
 * before the kernel's pool is ready). A bad buffer is written from userspace, by the
 * engine or the kernel's vDSO, so it faults (SIGSEGV) as a bad pointer to memcpy() does.
 */
ssize_t snapsafe_getrandom(void *buf, size_t len, unsigned int flags);

/**
 * snapsafe_random_buf() - fill a buffer with random bytes; never fails.
 * @buf: destination
 * @len: number of bytes
 *
 * Like arc4random_buf(): if the kernel refuses every way to its generator (the
 * getrandom syscall and the device files), the process is aborted rather than
 * given weak bytes.
 */
void snapsafe_random_buf(void *buf, size_t len);

/** snapsafe_random_u32() - a uniformly random 32-bit value. */
uint32_t snapsafe_random_u32(void);

/** snapsafe_random_u64() - a uniformly random 64-bit value. */
uint64_t snapsafe_random_u64(void);

/**
 * snapsafe_random_uniform() - an unbiased random value in [0, @upper_bound).
 * @upper_bound: exclusive bound; 0 and 1 both return 0.
 */
uint32_t snapsafe_random_uniform(uint32_t upper_bound);

/** snapsafe_uuid_v4() - a random RFC 9562 version 4 UUID, in network byte order. */
void snapsafe_uuid_v4(uint8_t out[16]);

/**
 * snapsafe_uuid_v7() - an RFC 9562 version 7 UUID: 48-bit Unix milliseconds, then
 * random bits. UUIDs made by one process sort in creation order.
 */
void snapsafe_uuid_v7(uint8_t out[16]);

/* ---- The system generation --------------------------------------------- */

/**
 * snapsafe_generation() - the current system generation, one load from the page.
 *
 * Return: the generation, or 0 when no generation source is available (no daemon).
 */
uint32_t snapsafe_generation(void);

/**
 * snapsafe_generation_wait() - block until the system generation differs from @seen.
 * @seen: the generation the caller knows
 * @timeout_ms: how long to wait; 0 waits forever
 *
 * Uses a futex on the shared page: no socket, no registration.
 * Return: the current generation once it differs from @seen, -ETIMEDOUT, -EINTR
 * on a signal, -ENOENT when no daemon page exists.
 */
int64_t snapsafe_generation_wait(uint32_t seen, unsigned int timeout_ms);

struct snapsafe_watcher;

enum {
	SNAPSAFE_WATCHER_NONBLOCK = 1u << 0,	/* snapsafe_watcher_read() returns -EAGAIN */
};

/**
 * snapsafe_watcher_open() - register with the daemon as a watcher.
 * @flags: 0 or SNAPSAFE_WATCHER_NONBLOCK
 * @ret: the new watcher, written only on success
 *
 * The watcher starts having acknowledged the current generation.
 * Return: 0, or a negative errno (-ENOENT/-ECONNREFUSED when no daemon runs).
 */
int snapsafe_watcher_open(unsigned int flags, struct snapsafe_watcher **ret);

/** snapsafe_watcher_fd() - a descriptor that polls readable while the watcher is outdated. */
int snapsafe_watcher_fd(const struct snapsafe_watcher *w);

/**
 * snapsafe_watcher_read() - the generation, once it differs from the last acknowledged one.
 * @w: the watcher
 * @ret_gen: the new generation, written only on success
 *
 * Blocks until the watcher is outdated, unless opened SNAPSAFE_WATCHER_NONBLOCK.
 * Return: 0, -EAGAIN (non-blocking, nothing new), -EINTR, or another negative errno.
 */
int snapsafe_watcher_read(struct snapsafe_watcher *w, uint32_t *ret_gen);

/**
 * snapsafe_watcher_ack() - confirm that the watcher has handled generation @gen.
 * Return: 0, or -EINVAL when @gen is not the current generation.
 */
int snapsafe_watcher_ack(struct snapsafe_watcher *w, uint32_t gen);

/** snapsafe_watcher_close() - stop counting as a watcher; accepts NULL; returns NULL. */
struct snapsafe_watcher *snapsafe_watcher_close(struct snapsafe_watcher *w);

/**
 * snapsafe_outdated_watchers() - how many watchers existing at the last raise
 * have not acknowledged it.
 * Return: the count (>= 0) or a negative errno.
 */
int snapsafe_outdated_watchers(void);

/**
 * snapsafe_wait_watchers() - wait until no watcher is outdated.
 * @timeout_ms: 0 waits forever
 *
 * Return: 0, -ETIMEDOUT, or -EINTR when the caller (this process) holds an
 * outdated watcher, which would otherwise wait for itself.
 */
int snapsafe_wait_watchers(unsigned int timeout_ms);

/**
 * snapsafe_trigger() - force a new generation, at least @min_gen.
 * Return: the new generation (> 0), or -EACCES for callers that are neither root,
 * nor hold CAP_CHECKPOINT_RESTORE, nor are in the daemon's control group.
 */
int64_t snapsafe_trigger(uint32_t min_gen);

/**
 * snapsafe_quiesce() - start the cooperative snapshot: libraries stop serving from
 * userspace state until snapsafe_resume(). Privileged like snapsafe_trigger().
 */
int snapsafe_quiesce(void);

/**
 * snapsafe_resume() - end the snapshot: raise the generation and clear the quiesce.
 * Return: the new generation (> 0) or a negative errno.
 */
int64_t snapsafe_resume(void);

#ifdef __cplusplus
}
#endif
#endif
