/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The installed shim exports what it interposes and nothing else: not the engine's
 * snapsafe_*() functions (a program that links libsnapsafe.so would otherwise have its own
 * calls bound to the shim's copy), not libsnapsafe's internals, not the test observation.
 * The shim is opened with dlopen(RTLD_LOCAL), so it interposes nothing in this process.
 * Argument: the path of libsnapsafe-preload.so.
 */
#include "preload-test.h"

static const char *const exported[] = {
	"getrandom", "getentropy", "arc4random", "arc4random_buf", "arc4random_uniform",
	"vfork", "__vfork",
};

static const char *const hidden[] = {
	"snapsafe_getrandom", "snapsafe_random_buf", "snapsafe_random_u32", "snapsafe_random_u64",
	"snapsafe_random_uniform", "snapsafe_uuid_v4", "snapsafe_generation",
	"kernel_random_fill", "kernel_random_fill_nested", "rng_current_state", "slot_get",
	"guard_inside", "slot_tls", "gen_sources", "preload_vfork_depth", "preload_kernel_fill",
	"preload_vfork_failed", "preload_observe_peek",
};

int main(int argc, char **argv)
{
	void *h;

	if (argc != 2)
		test_fail("usage: %s LIBSNAPSAFE-PRELOAD.SO", argv[0]);
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		test_fail("dlopen %s: %s", argv[1], dlerror());
	for (size_t i = 0; i < sizeof(exported) / sizeof(exported[0]); i++) {
		void *fn = dlsym(h, exported[i]);

		if (!fn || strcmp(object_of(fn), argv[1]) != 0)
			test_fail("%s is not exported by the shim (found in %s)", exported[i],
				  object_of(fn));
	}
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (dlsym(h, hidden[i]))
			test_fail("the shim exports %s", hidden[i]);
	fprintf(stderr, "%zu functions exported, %zu internal names hidden\n",
		sizeof(exported) / sizeof(exported[0]), sizeof(hidden) / sizeof(hidden[0]));
	return 0;
}
