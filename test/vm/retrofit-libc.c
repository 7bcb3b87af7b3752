// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * retrofit-libc: a program that knows nothing of snapsafe, for the retrofit scenario
 * (vm-retrofit-test.py). It draws 16 bytes with glibc's getrandom() and then 16 with
 * arc4random_buf(), every <interval> ms, for ever, and prints each draw (retrofit.h). Run
 * plain it is the control (glibc 2.36: both are the getrandom system call); run with the
 * shim in LD_PRELOAD the shim serves both.
 *
 *   retrofit-libc <name> <interval-ms>
 *
 * First it says which objects define the two functions for it, so the host sees that the
 * shim, not libc, answers:
 *
 *   RSTART prog=<name> getrandom=<file> arc4random_buf=<file> observed=<0|1>
 *
 * observed=1 when the shim is the observed build (engine-observe.c): each draw then says
 * whether the engine served it. The program is a normal dynamically linked executable; it
 * does not link libsnapsafe.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "retrofit.h"

static const char *defined_in(const char *symbol)
{
	void *sym = dlsym(RTLD_DEFAULT, symbol);
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

static void fill_getrandom(void *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, 0);

	if (n != (ssize_t)len) {
		console_line("RERROR getrandom returned %zd (errno %d)", n, errno);
		exit(1);
	}
}

static void fill_arc4random(void *buf, size_t len)
{
	arc4random_buf(buf, len);
}

static const struct {
	const char *name;
	void (*fill)(void *buf, size_t len);
} functions[] = {
	{ "getrandom", fill_getrandom },
	{ "arc4random_buf", fill_arc4random },
};

int main(int argc, char **argv)
{
	const struct snapsafe_page *page;
	vm_engine_fingerprint_fn *fp;
	unsigned int interval_ms;
	const char *prog;

	if (argc != 3) {
		fprintf(stderr, "usage: retrofit-libc <name> <interval-ms>\n");
		return 2;
	}
	prog = argv[1];
	interval_ms = (unsigned int)strtoul(argv[2], NULL, 10);
	page = retrofit_page(prog);
	fp = (vm_engine_fingerprint_fn *)dlsym(RTLD_DEFAULT, "vm_engine_fingerprint");
	console_line("RSTART prog=%s getrandom=%s arc4random_buf=%s observed=%d", prog,
		      defined_in("getrandom"), defined_in("arc4random_buf"), fp != NULL);

	for (uint64_t seq = 0;; seq++) {
		for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
			uint8_t buf[RETROFIT_BYTES];
			uint32_t gen_before = retrofit_generation(page), gen_after;
			uint64_t mono = retrofit_now(), fp_before = fp ? fp() : 0;
			uint64_t fp_after;

			functions[i].fill(buf, sizeof(buf));
			fp_after = fp ? fp() : 0;
			gen_after = retrofit_generation(page);
			retrofit_draw_line(prog, functions[i].name, seq, gen_before, gen_after,
					   retrofit_path(fp, fp_before, fp_after), mono, buf);
		}
		retrofit_sleep_ms(interval_ms);
	}
}
