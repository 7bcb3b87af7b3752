/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where snapsafed's log goes: structured records to journald when its standard error is
 * the journal's stream ($JOURNAL_STREAM names that very file; libsystemd at build time),
 * local timestamps when it is a terminal, "<N>" priority prefixes otherwise (what
 * journald and systemd's stderr handling read from a plain pipe).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "journal.h"
#include "log.h"

#if HAVE_LIBSYSTEMD
static void journal_send(const char *const *entries, size_t n)
{
	struct iovec iov[32];

	if (n > sizeof(iov) / sizeof(iov[0]))
		n = sizeof(iov) / sizeof(iov[0]);
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec) { .iov_base = (void *)entries[i],
					  .iov_len = __builtin_strlen(entries[i]) };
	(void)sd_journal_sendv(iov, (int)n);
}

/* Is our stderr the stream systemd connected to the journal ($JOURNAL_STREAM "dev:ino")? */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
#endif

void journal_setup(void)
{
#if HAVE_LIBSYSTEMD
	if (stderr_is_journal()) {
		log_set_journal(journal_send);
		return;
	}
#endif
	if (isatty(STDERR_FILENO))
		log_set_timestamps(1);
}
