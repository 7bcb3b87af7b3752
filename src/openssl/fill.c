/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The only place the provider makes random bytes: snapsafe_getrandom(), which serves them
 * from this thread's snapshot-safe engine or from the kernel (docs/security.md). A request
 * that asks for prediction resistance goes to the kernel directly (GRND_RANDOM), which
 * reseeds itself continuously. When the kernel refuses every way in, the request fails with
 * an error on OpenSSL's queue and the buffer is zeroed: never bytes that might be weak, and
 * never a partial fill that a caller ignoring the return value would take for random.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <snapsafe/snapsafe.h>

#include "provider.h"

int provider_fill(const struct provider *p, void *buf, size_t len, bool prediction_resistance)
{
	unsigned int flags = prediction_resistance ? GRND_RANDOM : 0;
	uint8_t *out = buf;
	size_t left = len;
	char why[128];
	int err;

	while (left > 0) {
		ssize_t n = snapsafe_getrandom(out, left, flags);

		if (n > 0) {
			out += n;
			left -= (size_t)n;
			continue;
		}
		/* A signal while the kernel's pool was still initialising: ask again. */
		if (n < 0 && errno == EINTR)
			continue;
		err = n < 0 ? errno : EIO;
		explicit_bzero(buf, len);
		provider_error(p, PROVIDER_R_KERNEL_REFUSED, "snapsafe_getrandom: %s (errno %d)",
			       strerror_r(err, why, sizeof(why)), err);
		return 0;
	}
	return 1;
}
