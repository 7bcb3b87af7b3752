/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * refuse-kernel COMMAND [ARG...]: run COMMAND with the kernel refusing it random bytes
 * (refuse.h). Exit status 77 when this machine cannot set that up (a skip for the caller),
 * 99 when the refusal was set up but does not hold; otherwise COMMAND's own.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "refuse.h"

int main(int argc, char **argv)
{
	char why[256];
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: refuse-kernel COMMAND [ARG...]\n");
		return 2;
	}
	r = refuse_kernel(why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "refuse-kernel: %s\n", why);
		return r == -1 ? 77 : 99;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "refuse-kernel: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
