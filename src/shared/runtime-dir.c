/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resolves the runtime directory the same way for the daemon, the library and the CLI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime-dir.h"

const char *runtime_dir(const char *override)
{
	const char *e;

	if (override && *override)
		return override;
	/* secure_getenv: a setuid program must not be pointed at a fake page. */
	e = secure_getenv("SNAPSAFE_RUNTIME_DIR");
	if (e && *e)
		return e;
	return SNAPSAFE_RUNTIME_DIR_DEFAULT;
}

int runtime_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}
