/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe_random_uniform() is unbiased: bounded chi-square tests on bounds where
 * the two classic mistakes show (plain modulo skews towards low values; multiply
 * without rejection skews by residue). Each statistic is first run on the broken
 * method to prove it notices, then on the real one.
 */
#include "policy.h"
#include "snapsafe/snapsafe.h"
#include "test.h"

enum { SAMPLES = 1200000, BINS = 16 };

/* Chi-square upper tail ~2.5e-7 for 15 degrees of freedom, ~1e-7 for 2. */
#define CHI2_LIMIT_15 60.0
#define CHI2_LIMIT_2 32.0

typedef uint32_t draw_fn(uint32_t bound);

static uint32_t broken_modulo(uint32_t bound)
{
	return snapsafe_random_u32() % bound;
}

static uint32_t broken_multiply(uint32_t bound)
{
	return (uint32_t)(((uint64_t)snapsafe_random_u32() * bound) >> 32);
}

static double chi2(const unsigned long *count, int bins, double expected)
{
	double x = 0;

	for (int i = 0; i < bins; i++)
		x += (count[i] - expected) * (count[i] - expected) / expected;
	return x;
}

/* Range bins: where in [0, bound) the values fall. */
static double chi2_range(draw_fn *draw, uint32_t bound)
{
	unsigned long count[BINS] = { 0 };

	for (int i = 0; i < SAMPLES; i++) {
		uint32_t v = draw(bound);

		if (v >= bound)
			test_fail("%u out of range [0, %u)", v, bound);
		count[(uint64_t)v * BINS / bound]++;
	}
	return chi2(count, BINS, (double)SAMPLES / BINS);
}

/* Residue bins: value mod 3 (bound a multiple of 3). */
static double chi2_residue(draw_fn *draw, uint32_t bound)
{
	unsigned long count[3] = { 0 };

	for (int i = 0; i < SAMPLES; i++)
		count[draw(bound) % 3]++;
	return chi2(count, 3, (double)SAMPLES / 3);
}

TEST(test_statistics_see_the_classic_biases)
{
	double r = chi2_range(broken_modulo, 0xc0000000u);
	double m = chi2_residue(broken_multiply, 0xc0000000u);

	fprintf(stderr, "broken modulo: chi2 %.1f; broken multiply: chi2 %.1f\n", r, m);
	assert_true(r > CHI2_LIMIT_15);
	assert_true(m > CHI2_LIMIT_2);
}

TEST(test_uniform_is_unbiased)
{
	uint32_t bounds[] = { 0xc0000000u, 0x80000001u, 3u * 1000003u, 1000u * 3u };

	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		double r = chi2_range(snapsafe_random_uniform, bounds[i]);
		double m = chi2_residue(snapsafe_random_uniform, bounds[i] - bounds[i] % 3);

		fprintf(stderr, "bound %u: range chi2 %.1f, residue chi2 %.1f\n", bounds[i], r, m);
		assert_true(r < CHI2_LIMIT_15);
		assert_true(m < CHI2_LIMIT_2);
	}
}

TEST(test_uniform_edge_bounds)
{
	assert_eq(snapsafe_random_uniform(0), 0);
	assert_eq(snapsafe_random_uniform(1), 0);
	for (int i = 0; i < 1000; i++)
		assert_true(snapsafe_random_uniform(2) < 2);
	uint32_t or = 0;
	for (int i = 0; i < 1000; i++)
		or |= snapsafe_random_uniform(0xffffffffu);
	assert_true(or > 0x80000000u);
}

int main(void)
{
	policy_force_mode(ENGINE_ALWAYS);
	RUN(test_statistics_see_the_classic_biases);
	RUN(test_uniform_is_unbiased);
	RUN(test_uniform_edge_bounds);
	return 0;
}
