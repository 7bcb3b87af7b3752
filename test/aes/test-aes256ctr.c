/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AES-256-CTR (src/lib/aes256ctr*.c): the SP 800-38A F.5.5 vector on every supported
 * implementation; each one's wide loop against its own one-block path, block by block,
 * for every length up to 70 blocks and counters whose carries cross bytes; output at odd
 * addresses, and not a byte written past the end. argv[1] names one implementation.
 */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "aes256ctr.h"
#include "test.h"

static void unhex(uint8_t *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			test_fail("bad hex in the test itself");
		out[i] = (uint8_t)v;
	}
}

/* SP 800-38A, F.5.5 CTR-AES256.Encrypt: ciphertext = plaintext ^ keystream. */
static void check_vector(const struct aes256ctr_impl *impl)
{
	uint8_t key[32], iv[16], pt[64], ct[64], ks[64 + 1];

	unhex(key, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
	unhex(iv, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
	unhex(pt, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
		  "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
	unhex(ct, "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
		  "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
	for (size_t n = 1; n <= 4; n++) {
		memset(ks, 0xa5, sizeof(ks));
		impl->blocks(ks, key, iv, n);
		for (size_t i = 0; i < 16 * n; i++)
			if ((uint8_t)(pt[i] ^ ks[i]) != ct[i])
				test_fail("%s, %zu blocks: byte %zu of the F.5.5 vector is wrong",
					  impl->name, n, i);
		if (ks[16 * n] != 0xa5)
			test_fail("%s, %zu blocks: wrote past the end", impl->name, n);
	}
}

static void add_counter(uint8_t iv[16], uint32_t n)
{
	uint32_t c = (uint32_t)iv[12] << 24 | (uint32_t)iv[13] << 16 | (uint32_t)iv[14] << 8 | iv[15];

	c += n;
	iv[12] = (uint8_t)(c >> 24);
	iv[13] = (uint8_t)(c >> 16);
	iv[14] = (uint8_t)(c >> 8);
	iv[15] = (uint8_t)c;
}

/* The wide loop against one block at a time, which goes through the plain round code. */
static void check_against_single_blocks(const struct aes256ctr_impl *impl, uint32_t start)
{
	enum { MAX_BLOCKS = 70 };
	static uint8_t wide[MAX_BLOCKS * 16 + 1 + 1], single[MAX_BLOCKS * 16];
	uint8_t key[32], iv[16], one_iv[16];

	if (getrandom(key, sizeof(key), 0) != sizeof(key) || getrandom(iv, 12, 0) != 12)
		test_fail("getrandom: %m");
	iv[12] = (uint8_t)(start >> 24);
	iv[13] = (uint8_t)(start >> 16);
	iv[14] = (uint8_t)(start >> 8);
	iv[15] = (uint8_t)start;
	memcpy(one_iv, iv, sizeof(iv));
	for (size_t i = 0; i < MAX_BLOCKS; i++) {
		impl->blocks(single + 16 * i, key, one_iv, 1);
		add_counter(one_iv, 1);
	}
	for (size_t n = 0; n <= MAX_BLOCKS; n++) {
		/* wide + 1: an odd address. */
		memset(wide, 0x5a, sizeof(wide));
		impl->blocks(wide + 1, key, iv, n);
		if (memcmp(wide + 1, single, 16 * n) != 0)
			test_fail("%s, counter %#x, %zu blocks: differs from one block at a time",
				  impl->name, start, n);
		if (wide[0] != 0x5a || wide[1 + 16 * n] != 0x5a)
			test_fail("%s, counter %#x, %zu blocks: wrote outside the output",
				  impl->name, start, n);
	}
	/* Distinct blocks: a counter that did not advance would repeat one. */
	for (size_t i = 0; i < MAX_BLOCKS; i++)
		for (size_t j = i + 1; j < MAX_BLOCKS; j++)
			if (memcmp(single + 16 * i, single + 16 * j, 16) == 0)
				test_fail("%s: blocks %zu and %zu are the same", impl->name, i, j);
}

int main(int argc, char **argv)
{
	size_t ran = 0;

	for (size_t i = 0; i < aes256ctr_impls_count; i++) {
		const struct aes256ctr_impl *impl = &aes256ctr_impls[i];

		if (argc > 1 && strcmp(argv[1], impl->name) != 0)
			continue;
		if (!impl->supported()) {
			fprintf(stderr, "-- %s: not supported by this CPU\n", impl->name);
			continue;
		}
		fprintf(stderr, "-- %s\n", impl->name);
		check_vector(impl);
		check_against_single_blocks(impl, 0);
		check_against_single_blocks(impl, 0xf0);
		check_against_single_blocks(impl, 0xffe0);
		check_against_single_blocks(impl, 0xffffff00u);
		ran++;
	}
	if (!ran)
		test_skip("%s: not built or not supported by this CPU", argc > 1 ? argv[1] : "AES");
	return 0;
}
