/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl resume: end a cooperative snapshot: the daemon raises the generation
 * (the restored or cloned copy is a new one) and clears the quiesce. Prints the new generation.
 */
#include "snapsafectl.h"

int cmd_resume(int argc, char **argv)
{
	return cli_value_command(argc, argv, NULL, "RESUME", "generation", "quiesced", false);
}
