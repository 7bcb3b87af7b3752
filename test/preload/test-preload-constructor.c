/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Before main(): a linked library's constructor and the program's own both draw through the
 * shim, which needs no initialisation of its own (it has no constructor), and the engine
 * serves them (SNAPSAFE_ENGINE=always, the observed shim's peek). main() reads both reports.
 */
#include "ctor-report.h"
#include "preload-test.h"

extern struct ctor_report ctor_lib_report;

static struct ctor_report program_report;

__attribute__((constructor(101))) static void program_draws(void)
{
	ctor_report_draw(&program_report);
}

static void check(const struct ctor_report *r, const char *who)
{
	if (!r->ran)
		test_fail("%s: the constructor did not run", who);
	if (!r->getrandom_from || !strstr(r->getrandom_from, "libsnapsafe-preload"))
		test_fail("%s: getrandom came from %s before main()", who,
			  r->getrandom_from ? r->getrandom_from : "nowhere");
	if (!r->observed)
		test_fail("%s: the observed shim's peek was not found before main()", who);
	assert_eq(r->getrandom, 16);
	assert_eq(r->getentropy, 0);
	if (!r->from_engine)
		test_fail("%s: the bytes drawn before main() were not the engine's", who);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < i; j++)
			assert_true(memcmp(r->bytes[i], r->bytes[j], 16) != 0);
}

TEST(test_constructors_draw_from_the_engine_before_main)
{
	check(&ctor_lib_report, "the library's constructor");
	check(&program_report, "the program's constructor");
	assert_true(memcmp(ctor_lib_report.bytes[0], program_report.bytes[0], 16) != 0);
}

int main(void)
{
	if (!engine_expected())
		test_fail("this test needs SNAPSAFE_ENGINE=always in the environment");
	assert_interposed();
	RUN(test_constructors_draw_from_the_engine_before_main);
	return 0;
}
