/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * The user-space interface of /dev/sysgenid, the System Generation ID device of snapsafe's
 * out-of-tree kernel module (kmod/sysgenid.c). It carries both ioctl numbering schemes the
 * SysGenID proposal went through, so a program written for either works unchanged:
 *
 * - 0x2d, the v4 revision (the one snapsafe follows): every open file is a watcher.
 *   GET_OUTDATED_WATCHERS returns the count as the ioctl's result; WAIT_WATCHERS takes a timeout
 *   in ms (0 = forever); FORCE_GEN_UPDATE takes min_gen.
 * - 0xE4, the later revision that Amazon Linux kernels ship: watcher tracking per file
 *   (SET_WATCHER_TRACKING, argument 0 or 1), WAIT_WATCHERS and TRIGGER_GEN_UPDATE with the
 *   same arguments and results as their 0x2d twins.
 *
 * Both revisions name their wait ioctl SYSGENID_WAIT_WATCHERS; here the 0x2d one keeps that
 * name and the 0xE4 one is SYSGENID_E4_WAIT_WATCHERS.
 *
 * The device itself: read() of at least 4 bytes returns the u32 generation once it differs from
 * the file's acknowledged one (blocks before that, EAGAIN with O_NONBLOCK, EINVAL for a shorter
 * buffer); write() of exactly the current generation (4 bytes) acknowledges it, anything else is
 * EINVAL; poll() is readable while the file is outdated; mmap() of one page at offset 0, read
 * only, holds the u32 generation at offset 0.
 */
#ifndef _UAPI_LINUX_SYSGENID_H
#define _UAPI_LINUX_SYSGENID_H

#include <linux/ioctl.h>

/* The v4 numbering. */
#define SYSGENID_IOCTL				0x2d
#define SYSGENID_GET_OUTDATED_WATCHERS		_IO(SYSGENID_IOCTL, 1)
#define SYSGENID_WAIT_WATCHERS			_IO(SYSGENID_IOCTL, 2)
#define SYSGENID_FORCE_GEN_UPDATE		_IO(SYSGENID_IOCTL, 3)

/* The Amazon Linux numbering. */
#define SYSGENID_E4_IOCTL			0xE4
#define SYSGENID_E4_SET_WATCHER_TRACKING	_IO(SYSGENID_E4_IOCTL, 1)
#define SYSGENID_E4_WAIT_WATCHERS		_IO(SYSGENID_E4_IOCTL, 2)
#define SYSGENID_E4_TRIGGER_GEN_UPDATE		_IO(SYSGENID_E4_IOCTL, 3)

/* The Amazon Linux names that do not clash with the v4 ones. */
#define SYSGENID_SET_WATCHER_TRACKING		SYSGENID_E4_SET_WATCHER_TRACKING
#define SYSGENID_TRIGGER_GEN_UPDATE		SYSGENID_E4_TRIGGER_GEN_UPDATE

/* The page: the generation is the 32-bit word at this offset of the mapping. */
#define SYSGENID_MMAP_GEN_OFFSET		0

#endif /* _UAPI_LINUX_SYSGENID_H */
