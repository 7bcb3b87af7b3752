/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes snapsafe_random_buf() output to stdout until the reader goes away (or
 * for --bytes N), for statistical suites: `snapsafe-stream | dieharder -g 200 -a`.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapsafe/snapsafe.h"

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	unsigned long long left = ~0ull;

	if (argc == 3 && strcmp(argv[1], "--bytes") == 0)
		left = strtoull(argv[2], NULL, 0);
	signal(SIGPIPE, SIG_IGN);
	while (left > 0) {
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

		snapsafe_random_buf(buf, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(STDOUT_FILENO, buf + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return errno == EPIPE ? 0 : 1;
			off += (size_t)w;
		}
		left -= n;
	}
	return 0;
}
