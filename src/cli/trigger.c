/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafectl trigger [--min-gen N]: raise the generation to max(current + 1, N),
 * as a control plane does after cloning a VM, and print the new generation.
 */
#include "snapsafectl.h"

int cmd_trigger(int argc, char **argv)
{
	return cli_value_command(argc, argv, "min-gen", "TRIGGER", "generation", NULL, false);
}
