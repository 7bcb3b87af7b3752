/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenSSL 3.5's random_provider path: with `random_provider = snapsafe` in the [random]
 * section, RAND_bytes() and RAND_priv_bytes() call this directly, without any EVP_RAND
 * context, DRBG chain or lock in between. Public and private requests are alike here: each
 * thread has its own libsnapsafe state either way. OpenSSL before 3.5 does not know the
 * dispatch entry and never calls it.
 */
#include "provider.h"

int provider_random_bytes(void *provctx, int which, void *buf, size_t n, unsigned int strength)
{
	struct provider *p = provctx;

	if (strength > PROVIDER_STRENGTH) {
		provider_error(p, PROVIDER_R_STRENGTH, "%u bits requested", strength);
		return 0;
	}
	return provider_fill(p, buf, n, false);
}
