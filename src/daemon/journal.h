/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* journal_setup() - pick snapsafed's log format for where stderr goes (journal.c). */
#ifndef SNAPSAFE_DAEMON_JOURNAL_H
#define SNAPSAFE_DAEMON_JOURNAL_H

void journal_setup(void);

#endif
