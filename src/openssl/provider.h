/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The internal interface of snapsafe's OpenSSL 3 provider (docs/openssl-provider.md): the
 * provider context, the one way bytes are made (provider_fill), errors put on OpenSSL's
 * queue through the core, and the small OSSL_PARAM helpers. The module never calls libcrypto
 * (it does not link it): everything it needs from OpenSSL comes through the dispatch table
 * the core hands to OSSL_provider_init(), so one build loads into every OpenSSL 3.x.
 */
#ifndef SNAPSAFE_OPENSSL_PROVIDER_H
#define SNAPSAFE_OPENSSL_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

enum {
	/* ChaCha20 with a 256-bit key, seeded with 256 bits from the kernel. */
	PROVIDER_STRENGTH	= 256,
	/* The largest request one generate call takes; OpenSSL splits bigger ones. */
	PROVIDER_MAX_REQUEST	= 1u << 30,
};

/* Reason codes of the errors this provider raises; strings in error.c. */
enum provider_reason {
	PROVIDER_R_KERNEL_REFUSED = 1,
	PROVIDER_R_NOT_INSTANTIATED,
	PROVIDER_R_STRENGTH,
	PROVIDER_R_SEED_LENGTH,
	PROVIDER_R_NO_MEMORY,
};

/* What the core gave us at load time; one per loaded instance of the provider. */
struct provider {
	const OSSL_CORE_HANDLE *handle;
	OSSL_FUNC_core_new_error_fn *new_error;
	OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
	OSSL_FUNC_core_vset_error_fn *vset_error;
};

/* error.c */
extern const OSSL_ITEM provider_reason_strings[];

void provider_raise(const struct provider *p, const char *file, int line, const char *func,
		    enum provider_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#define provider_error(p, reason, ...) \
	provider_raise((p), __FILE__, __LINE__, __func__, (reason), __VA_ARGS__)

/* fill.c */
int provider_fill(const struct provider *p, void *buf, size_t len, bool prediction_resistance);

/* params.c */
bool param_set_uint(OSSL_PARAM *p, uint64_t v);
bool param_set_int(OSSL_PARAM *p, int v);
bool param_set_utf8_ptr(OSSL_PARAM *p, const char *s);

/* rand.c: the EVP_RAND "SNAPSAFE" */
extern const OSSL_DISPATCH rand_functions[];

/* random-bytes.c: OpenSSL 3.5's random_provider entry point */
int provider_random_bytes(void *provctx, int which, void *buf, size_t n, unsigned int strength);

#endif
