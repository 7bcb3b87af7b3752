/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The EVP_RAND "SNAPSAFE": what OpenSSL's [random] section selects (random = SNAPSAFE) for
 * its primary, public and private generators, or its seed source (seed = SNAPSAFE).
 *
 * A context holds no random state at all: every generate call is served by libsnapsafe
 * (fill.c), whose state is per thread, wiped on fork and reseeded whenever a generation
 * source says the machine may have been copied. So nothing here can be duplicated by a
 * snapshot, and instantiate, reseed and uninstantiate only move the life-cycle state that
 * OpenSSL expects to see. What OpenSSL passes in that a DRBG would mix into its state (a
 * personalisation string, additional input, entropy handed to reseed by RAND_add()) is
 * accepted and not used: the kernel is the only input. The parent OpenSSL gives a context
 * (its seed source, or another SNAPSAFE) is never called.
 *
 * As a parent of OpenSSL's own DRBGs (seed = SNAPSAFE), get_seed/clear_seed hand out seeds
 * and nonce their nonces (so they need no entropy source of OpenSSL's own), and the reseed
 * counter a child reads is the system generation: the child reseeds at its first request
 * after snapsafed raises it.
 *
 * Locking: libsnapsafe needs none; OpenSSL asks for it on the primary generator, which it
 * shares between threads, and then gets a real mutex around its calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <snapsafe/snapsafe.h>

#include "provider.h"

struct rand_ctx {
	struct provider *provider;
	int state;			/* EVP_RAND_STATE_* */
	bool locking;			/* enable_locking() was called: lock is initialised */
	pthread_mutex_t lock;
};

static void *rand_newctx(void *provctx, void *parent, const OSSL_DISPATCH *parent_calls)
{
	struct rand_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		provider_error(provctx, PROVIDER_R_NO_MEMORY, "a SNAPSAFE context");
		return NULL;
	}
	ctx->provider = provctx;
	ctx->state = EVP_RAND_STATE_UNINITIALISED;
	return ctx;
}

static void rand_freectx(void *vctx)
{
	struct rand_ctx *ctx = vctx;

	if (!ctx)
		return;
	if (ctx->locking)
		pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

static int rand_instantiate(void *vctx, unsigned int strength, int prediction_resistance,
			    const unsigned char *pstr, size_t pstr_len, const OSSL_PARAM params[])
{
	struct rand_ctx *ctx = vctx;

	if (strength > PROVIDER_STRENGTH) {
		provider_error(ctx->provider, PROVIDER_R_STRENGTH, "%u bits requested", strength);
		return 0;
	}
	ctx->state = EVP_RAND_STATE_READY;
	return 1;
}

static int rand_uninstantiate(void *vctx)
{
	struct rand_ctx *ctx = vctx;

	ctx->state = EVP_RAND_STATE_UNINITIALISED;
	return 1;
}

/* The checks every request shares: instantiated, and no stronger than we are. */
static bool rand_usable(struct rand_ctx *ctx, unsigned int strength)
{
	if (ctx->state != EVP_RAND_STATE_READY) {
		provider_error(ctx->provider, PROVIDER_R_NOT_INSTANTIATED, "state %d", ctx->state);
		return false;
	}
	if (strength > PROVIDER_STRENGTH) {
		provider_error(ctx->provider, PROVIDER_R_STRENGTH, "%u bits requested", strength);
		return false;
	}
	return true;
}

static int rand_generate(void *vctx, unsigned char *out, size_t outlen, unsigned int strength,
			 int prediction_resistance, const unsigned char *addin, size_t addin_len)
{
	struct rand_ctx *ctx = vctx;

	if (!rand_usable(ctx, strength)) {
		if (outlen > 0)
			explicit_bzero(out, outlen);
		return 0;
	}
	return provider_fill(ctx->provider, out, outlen, prediction_resistance);
}

static int rand_reseed(void *vctx, int prediction_resistance, const unsigned char *ent,
		       size_t ent_len, const unsigned char *addin, size_t addin_len)
{
	/* libsnapsafe reseeds on its own schedule and after every copy it can see. */
	return rand_usable(vctx, 0);
}

/*
 * A seed for a child DRBG: @entropy bits, at least @min_len and at most @max_len bytes, in a
 * buffer the child gives back through rand_clear_seed().
 */
static size_t rand_get_seed(void *vctx, unsigned char **ret_buf, int entropy, size_t min_len,
			    size_t max_len, int prediction_resistance, const unsigned char *adin,
			    size_t adin_len)
{
	struct rand_ctx *ctx = vctx;
	size_t len;
	unsigned char *buf;

	if (!rand_usable(ctx, entropy > 0 ? (unsigned int)entropy : 0))
		return 0;
	len = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
	if (len < min_len)
		len = min_len;
	if (entropy < 0 || len == 0 || len > max_len) {
		provider_error(ctx->provider, PROVIDER_R_SEED_LENGTH,
			       "%d bits in %zu to %zu bytes", entropy, min_len, max_len);
		return 0;
	}
	buf = malloc(len);
	if (!buf) {
		provider_error(ctx->provider, PROVIDER_R_NO_MEMORY, "a seed of %zu bytes", len);
		return 0;
	}
	if (!provider_fill(ctx->provider, buf, len, prediction_resistance)) {
		free(buf);
		return 0;
	}
	*ret_buf = buf;
	return len;
}

static void rand_clear_seed(void *vctx, unsigned char *buf, size_t len)
{
	if (!buf)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/*
 * A nonce for a child DRBG's instantiation: @min_len bytes (half the strength when it names
 * none, as SP 800-90A asks), at most @max_len. With @out NULL, only the length.
 */
static size_t rand_nonce(void *vctx, unsigned char *out, unsigned int strength, size_t min_len,
			 size_t max_len)
{
	struct rand_ctx *ctx = vctx;
	size_t len = min_len ? min_len : (strength / 2 + 7) / 8;

	if (!rand_usable(ctx, strength))
		return 0;
	if (len == 0 || len > max_len) {
		provider_error(ctx->provider, PROVIDER_R_SEED_LENGTH,
			       "a nonce of %zu to %zu bytes", min_len, max_len);
		return 0;
	}
	if (!out)
		return len;
	return provider_fill(ctx->provider, out, len, false) ? len : 0;
}

static int rand_verify_zeroization(void *vctx)
{
	/* A context holds no secret: there is nothing left to zero. */
	return 1;
}

static int rand_enable_locking(void *vctx)
{
	struct rand_ctx *ctx = vctx;
	int r;

	if (ctx->locking)
		return 1;
	r = pthread_mutex_init(&ctx->lock, NULL);
	if (r != 0) {
		provider_error(ctx->provider, PROVIDER_R_NO_MEMORY, "pthread_mutex_init: %d", r);
		return 0;
	}
	ctx->locking = true;
	return 1;
}

/* OpenSSL calls lock/unlock around every call, also before locking was enabled: no-ops then. */
static int rand_lock(void *vctx)
{
	struct rand_ctx *ctx = vctx;

	return !ctx->locking || pthread_mutex_lock(&ctx->lock) == 0;
}

static void rand_unlock(void *vctx)
{
	struct rand_ctx *ctx = vctx;

	if (ctx->locking)
		pthread_mutex_unlock(&ctx->lock);
}

static const OSSL_PARAM rand_gettable[] = {
	{ OSSL_RAND_PARAM_STATE, OSSL_PARAM_INTEGER, NULL, sizeof(int), 0 },
	{ OSSL_RAND_PARAM_STRENGTH, OSSL_PARAM_UNSIGNED_INTEGER, NULL, sizeof(unsigned int), 0 },
	{ OSSL_RAND_PARAM_MAX_REQUEST, OSSL_PARAM_UNSIGNED_INTEGER, NULL, sizeof(size_t), 0 },
	{ OSSL_DRBG_PARAM_RESEED_COUNTER, OSSL_PARAM_UNSIGNED_INTEGER, NULL, sizeof(unsigned int),
	  0 },
	{ NULL, 0, NULL, 0, 0 },
};

static const OSSL_PARAM *rand_gettable_ctx_params(void *vctx, void *provctx)
{
	return rand_gettable;
}

/*
 * OpenSSL asks for max_request before every generate call: the loop is a few string
 * compares, and unknown keys are left alone, as the OSSL_PARAM rules want.
 */
static int rand_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct rand_ctx *ctx = vctx;

	for (OSSL_PARAM *p = params; p && p->key; p++) {
		bool ok = true;

		if (strcmp(p->key, OSSL_RAND_PARAM_MAX_REQUEST) == 0)
			ok = param_set_uint(p, PROVIDER_MAX_REQUEST);
		else if (strcmp(p->key, OSSL_RAND_PARAM_STATE) == 0)
			ok = param_set_int(p, ctx->state);
		else if (strcmp(p->key, OSSL_RAND_PARAM_STRENGTH) == 0)
			ok = param_set_uint(p, PROVIDER_STRENGTH);
		else if (strcmp(p->key, OSSL_DRBG_PARAM_RESEED_COUNTER) == 0)
			/* A child DRBG reseeds when this changes: at every new generation. */
			ok = param_set_uint(p, snapsafe_generation());
		if (!ok)
			return 0;
	}
	return 1;
}

const OSSL_DISPATCH rand_functions[] = {
	{ OSSL_FUNC_RAND_NEWCTX, (void (*)(void))rand_newctx },
	{ OSSL_FUNC_RAND_FREECTX, (void (*)(void))rand_freectx },
	{ OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))rand_instantiate },
	{ OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))rand_uninstantiate },
	{ OSSL_FUNC_RAND_GENERATE, (void (*)(void))rand_generate },
	{ OSSL_FUNC_RAND_RESEED, (void (*)(void))rand_reseed },
	{ OSSL_FUNC_RAND_NONCE, (void (*)(void))rand_nonce },
	{ OSSL_FUNC_RAND_GET_SEED, (void (*)(void))rand_get_seed },
	{ OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))rand_clear_seed },
	{ OSSL_FUNC_RAND_VERIFY_ZEROIZATION, (void (*)(void))rand_verify_zeroization },
	{ OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))rand_enable_locking },
	{ OSSL_FUNC_RAND_LOCK, (void (*)(void))rand_lock },
	{ OSSL_FUNC_RAND_UNLOCK, (void (*)(void))rand_unlock },
	{ OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, (void (*)(void))rand_gettable_ctx_params },
	{ OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))rand_get_ctx_params },
	{ 0, NULL },
};
