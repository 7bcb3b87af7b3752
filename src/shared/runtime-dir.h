/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the daemon's runtime files are: --runtime-dir, else $SNAPSAFE_RUNTIME_DIR,
 * else /run/snapsafe. The daemon, the library and the CLI all resolve it here.
 */
#ifndef SNAPSAFE_SHARED_RUNTIME_DIR_H
#define SNAPSAFE_SHARED_RUNTIME_DIR_H

#include <stddef.h>

#define SNAPSAFE_RUNTIME_DIR_DEFAULT	"/run/snapsafe"
#define SNAPSAFE_PAGE_FILE		"generation"
#define SNAPSAFE_SOCKET_FILE		"control.sock"
#define SNAPSAFE_STATE_FILE		"state"

/*
 * runtime_dir() - the runtime directory: @override if non-NULL and non-empty, else
 * $SNAPSAFE_RUNTIME_DIR (secure_getenv: ignored in setuid programs), else the default.
 */
const char *runtime_dir(const char *override);

/*
 * runtime_path() - "<dir>/<name>" into @buf.
 * Return: 0, or -ENAMETOOLONG when it does not fit (a Unix socket path is short).
 */
int runtime_path(char *buf, size_t size, const char *dir, const char *name);

#endif
