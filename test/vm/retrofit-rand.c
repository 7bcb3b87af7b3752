// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * retrofit-rand: an OpenSSL program that knows nothing of snapsafe, for the retrofit scenario
 * (vm-retrofit-test.py). It draws 16 bytes with RAND_bytes() every <interval> ms, for ever,
 * and prints each draw (retrofit.h). With the default configuration it is the control:
 * OpenSSL's CTR-DRBG, whose state is in process memory. With OPENSSL_CONF naming snapsafe's
 * configuration the provider serves RAND_bytes().
 *
 *   retrofit-rand <name> <interval-ms>
 *
 * After OpenSSL has read its configuration it says which generator RAND_bytes() uses:
 *
 *   RSTART prog=<name> rand=<EVP_RAND name> provider=<its provider> observed=<0|1>
 *
 * observed=1 when OPENSSL_MODULES holds the provider's observed build (engine-observe.c),
 * found as the test of the provider finds its probe: each draw then says whether the engine
 * served it.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "retrofit.h"

/* The observed provider's fingerprint, when OpenSSL loaded it from OPENSSL_MODULES. */
static vm_engine_fingerprint_fn *observed_provider(void)
{
	const char *dir = getenv("OPENSSL_MODULES");
	vm_engine_fingerprint_fn *fp;
	char path[4096];
	void *h;

	if (!dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/snapsafe.so", dir);
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return NULL;
	fp = (vm_engine_fingerprint_fn *)dlsym(h, "vm_engine_fingerprint");
	dlclose(h);
	return fp;
}

int main(int argc, char **argv)
{
	const struct snapsafe_page *page;
	vm_engine_fingerprint_fn *fp;
	unsigned int interval_ms;
	const EVP_RAND *rand;
	EVP_RAND_CTX *ctx;
	const char *prog;

	if (argc != 3) {
		fprintf(stderr, "usage: retrofit-rand <name> <interval-ms>\n");
		return 2;
	}
	prog = argv[1];
	interval_ms = (unsigned int)strtoul(argv[2], NULL, 10);
	page = retrofit_page(prog);
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL)) {
		console_line("RERROR prog=%s OpenSSL did not load its configuration", prog);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	ctx = RAND_get0_public(NULL);
	rand = ctx ? EVP_RAND_CTX_get0_rand(ctx) : NULL;
	if (!rand) {
		console_line("RERROR prog=%s no generator for RAND_bytes()", prog);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	fp = observed_provider();
	console_line("RSTART prog=%s rand=%s provider=%s observed=%d", prog,
		      EVP_RAND_get0_name(rand),
		      OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(rand)), fp != NULL);

	for (uint64_t seq = 0;; seq++) {
		uint8_t buf[RETROFIT_BYTES];
		uint32_t gen_before = retrofit_generation(page), gen_after;
		uint64_t mono = retrofit_now(), fp_before = fp ? fp() : 0, fp_after;

		if (RAND_bytes(buf, sizeof(buf)) != 1) {
			console_line("RERROR prog=%s RAND_bytes failed", prog);
			ERR_print_errors_fp(stderr);
			return 1;
		}
		fp_after = fp ? fp() : 0;
		gen_after = retrofit_generation(page);
		retrofit_draw_line(prog, "RAND_bytes", seq, gen_before, gen_after,
				   retrofit_path(fp, fp_before, fp_after), mono, buf);
		retrofit_sleep_ms(interval_ms);
	}
}
