/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl quiesce: start a cooperative snapshot. Libraries stop serving random
 * bytes from userspace state until `resume`. Prints the (unchanged) generation.
 */
#include "snapsafectl.h"

int cmd_quiesce(int argc, char **argv)
{
	return cli_value_command(argc, argv, NULL, "QUIESCE", "generation", "quiesced", true);
}
