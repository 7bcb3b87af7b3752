/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a constructor records about the draws it made before main(): which object getrandom
 * came from, what each function returned, and whether the bytes were the engine's (the
 * observed shim's peek, found with dlsym). Header only, for test-preload-constructor.c and
 * its library; main() checks the reports, since a constructor has nowhere to fail to.
 */
#ifndef SNAPSAFE_CTOR_REPORT_H
#define SNAPSAFE_CTOR_REPORT_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct ctor_report {
	bool ran;
	const char *getrandom_from;
	ssize_t getrandom;
	int getentropy;
	bool observed;		/* the peek was found */
	bool from_engine;	/* getrandom's bytes were the engine's next ones */
	uint8_t bytes[3][16];
};

static inline void ctor_report_draw(struct ctor_report *r)
{
	int (*peek)(void *, size_t) = (int (*)(void *, size_t))dlsym(RTLD_DEFAULT,
								     "preload_observe_peek");
	uint8_t want[16];
	Dl_info info;

	r->ran = true;
	if (dladdr((const void *)getrandom, &info) && info.dli_fname)
		r->getrandom_from = info.dli_fname;
	r->observed = peek != NULL;
	/* The first request seeds; the engine then holds the next bytes. */
	r->getrandom = getrandom(r->bytes[0], 16, 0);
	if (peek && peek(want, sizeof(want)) == 0) {
		(void)getrandom(r->bytes[0], 16, 0);
		r->from_engine = memcmp(r->bytes[0], want, sizeof(want)) == 0;
	}
	r->getentropy = getentropy(r->bytes[1], 16);
	arc4random_buf(r->bytes[2], 16);
}

#endif
