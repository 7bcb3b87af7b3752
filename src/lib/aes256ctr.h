/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AES-256 in counter mode (FIPS 197, SP 800-38A), internal interface: the engine's
 * bulk expansion (docs/rng.md). Only with the CPU's AES instructions, which run in
 * constant time; there is no table-based fallback (its timing would leak the key), so
 * without them aes256ctr_best() is NULL and the engine stays with ChaCha20.
 */
#ifndef SNAPSAFE_LIB_AES256CTR_H
#define SNAPSAFE_LIB_AES256CTR_H

#include <stddef.h>
#include <stdint.h>

enum {
	AES256_KEY_SIZE		= 32,
	AES_BLOCK_SIZE		= 16,
};

/*
 * aes256ctr_fn - write @nblocks * 16 bytes of keystream to @out (any alignment).
 * @key: 32 bytes
 * @iv:  the first counter block; its last 4 bytes are a big-endian block counter
 *       that the caller keeps from wrapping (counter + @nblocks <= 2^32), as in
 *       GCM's counter
 */
typedef void aes256ctr_fn(uint8_t *out, const uint8_t key[AES256_KEY_SIZE],
			  const uint8_t iv[AES_BLOCK_SIZE], size_t nblocks);

aes256ctr_fn aes256ctr_aesni;
aes256ctr_fn aes256ctr_vaes;

struct aes256ctr_impl {
	const char *name;
	aes256ctr_fn *blocks;
	int (*supported)(void);		/* 1 when this CPU can run it */
};

/* All implementations, slowest first; for tests and the benchmark. */
extern const struct aes256ctr_impl aes256ctr_impls[];
extern const size_t aes256ctr_impls_count;

/*
 * aes256ctr_best() - the fastest supported implementation, chosen on first use; NULL
 * when the CPU has no AES instructions or SNAPSAFE_AES=none asks for ChaCha20 alone.
 */
aes256ctr_fn *aes256ctr_best(void);
const char *aes256ctr_best_name(void);

#endif
