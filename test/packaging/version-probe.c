/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * version-probe: prints the version that <snapsafe/snapsafe.h> gives a program, as the string
 * and as the three numbers ("0.1.0 0.1.0"), for check-version.sh to compare with the others.
 * It calls one library function too, so that it links like a real client.
 */
#include <stdio.h>

#include <snapsafe/snapsafe.h>

_Static_assert(SNAPSAFE_VERSION_MAJOR >= 0 && SNAPSAFE_VERSION_MINOR >= 0 &&
	       SNAPSAFE_VERSION_PATCH >= 0, "the version macros are integer constants");

int main(void)
{
	(void)snapsafe_generation();
	printf("%s %d.%d.%d\n", SNAPSAFE_VERSION_STRING, SNAPSAFE_VERSION_MAJOR,
	       SNAPSAFE_VERSION_MINOR, SNAPSAFE_VERSION_PATCH);
	return 0;
}
