/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Errors on OpenSSL's error queue, raised through the core (new_error, set_error_debug,
 * vset_error) so that they carry this provider's library code and a reason string that
 * ERR_print_errors() and `openssl` print: "snapsafe::the kernel refused random bytes". The
 * strings are registered with the core by the provider's get_reason_strings (provider.c).
 * A core that offered none of these functions (none does) just gets no error entry; the
 * failing call still returns 0.
 */
#include <stdarg.h>

#include "provider.h"

const OSSL_ITEM provider_reason_strings[] = {
	{ PROVIDER_R_KERNEL_REFUSED, "the kernel refused random bytes" },
	{ PROVIDER_R_NOT_INSTANTIATED, "generator not instantiated" },
	{ PROVIDER_R_STRENGTH, "requested strength above 256 bits" },
	{ PROVIDER_R_SEED_LENGTH, "seed length out of range" },
	{ PROVIDER_R_NO_MEMORY, "out of memory" },
	{ 0, NULL },
};

void provider_raise(const struct provider *p, const char *file, int line, const char *func,
		    enum provider_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (!p || !p->new_error || !p->vset_error)
		return;
	p->new_error(p->handle);
	if (p->set_error_debug)
		p->set_error_debug(p->handle, file, line, func);
	/* A reason without a library part is taken as this provider's own by the core. */
	va_start(ap, fmt);
	p->vset_error(p->handle, (uint32_t)reason, fmt, ap);
	va_end(ap);
}
