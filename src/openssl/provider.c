/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe.so, an OpenSSL 3 provider: the entry point OpenSSL calls when it loads the module,
 * and the provider's own functions (teardown, its parameters for `openssl list -providers`,
 * the algorithm query, its reason strings and, for OpenSSL 3.5+, random_bytes). It offers one
 * algorithm, the EVP_RAND "SNAPSAFE" (rand.c), with the property provider=snapsafe.
 *
 * The module does not link libcrypto: what it needs from OpenSSL (raising errors) it takes
 * from the core's dispatch table here, so the same build loads into every OpenSSL 3.x, also
 * one newer than the headers it was built with. It registers nothing that would outlive a
 * dlclose(): no atexit handler, no thread key, no fork handler (libsnapsafe has its own, and
 * stays loaded: it is linked -z nodelete).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>

#include "provider.h"

/*
 * OpenSSL 3.5 added the random_provider entry to the provider's dispatch table. Building
 * against older headers must still offer it: the number and the signature are ABI.
 */
#ifndef OSSL_FUNC_PROVIDER_RANDOM_BYTES
#define OSSL_FUNC_PROVIDER_RANDOM_BYTES 1032
#endif

#ifndef SNAPSAFE_PROVIDER_VERSION
#define SNAPSAFE_PROVIDER_VERSION "unknown"
#endif

#define EXPORT __attribute__((visibility("default")))

static const OSSL_ALGORITHM provider_rands[] = {
	{ "SNAPSAFE", "provider=snapsafe", rand_functions,
	  "snapshot-safe random numbers from libsnapsafe (per-thread ChaCha20, else the kernel)" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *provider_query(void *provctx, int operation_id, int *ret_no_cache)
{
	*ret_no_cache = 0;
	return operation_id == OSSL_OP_RAND ? provider_rands : NULL;
}

static const OSSL_PARAM provider_gettable[] = {
	{ OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0, 0 },
	{ OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0, 0 },
	{ OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0, 0 },
	{ OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, sizeof(int), 0 },
	{ NULL, 0, NULL, 0, 0 },
};

static const OSSL_PARAM *provider_gettable_params(void *provctx)
{
	return provider_gettable;
}

static int provider_get_params(void *provctx, OSSL_PARAM params[])
{
	for (OSSL_PARAM *p = params; p && p->key; p++) {
		bool ok = true;

		if (strcmp(p->key, OSSL_PROV_PARAM_NAME) == 0)
			ok = param_set_utf8_ptr(p, "snapsafe: snapshot-safe random numbers");
		else if (strcmp(p->key, OSSL_PROV_PARAM_VERSION) == 0)
			ok = param_set_utf8_ptr(p, SNAPSAFE_PROVIDER_VERSION);
		else if (strcmp(p->key, OSSL_PROV_PARAM_BUILDINFO) == 0)
			ok = param_set_utf8_ptr(p, "libsnapsafe " SNAPSAFE_PROVIDER_VERSION);
		else if (strcmp(p->key, OSSL_PROV_PARAM_STATUS) == 0)
			ok = param_set_int(p, 1);
		if (!ok)
			return 0;
	}
	return 1;
}

static const OSSL_ITEM *provider_reasons(void *provctx)
{
	return provider_reason_strings;
}

static void provider_teardown(void *provctx)
{
	free(provctx);
}

static const OSSL_DISPATCH provider_functions[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))provider_teardown },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))provider_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))provider_get_params },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))provider_query },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))provider_reasons },
	{ OSSL_FUNC_PROVIDER_RANDOM_BYTES, (void (*)(void))provider_random_bytes },
	{ 0, NULL },
};

/**
 * OSSL_provider_init() - called by OpenSSL once per load of the module.
 * @handle: the core's handle of this provider instance
 * @in: the core's functions; the error ones are kept
 * @out: set to the provider's functions
 * @provctx: set to the provider context that every other call receives
 *
 * Return: 1, or 0 when the context cannot be allocated.
 */
EXPORT int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
			      const OSSL_DISPATCH **out, void **provctx)
{
	struct provider *p = calloc(1, sizeof(*p));

	if (!p)
		return 0;
	p->handle = handle;
	for (; in && in->function_id != 0; in++) {
		switch (in->function_id) {
		case OSSL_FUNC_CORE_NEW_ERROR:
			p->new_error = OSSL_FUNC_core_new_error(in);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			p->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			p->vset_error = OSSL_FUNC_core_vset_error(in);
			break;
		}
	}
	*out = provider_functions;
	*provctx = p;
	return 1;
}
