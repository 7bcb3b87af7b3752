/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl outdated: how many watchers that existed at the last raise have not
 * acknowledged it yet.
 */
#include "snapsafectl.h"

int cmd_outdated(int argc, char **argv)
{
	return cli_value_command(argc, argv, NULL, "OUTDATED", "outdated", NULL, false);
}
