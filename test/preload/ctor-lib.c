/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A shared library whose constructor draws random bytes before main(), as libraries that seed
 * something at load time do; test-preload-constructor.c links it and reads the report. The
 * constructor has the highest priority a program may give, so it runs before every other
 * constructor of this library.
 */
#include "ctor-report.h"

__attribute__((visibility("default"))) struct ctor_report ctor_lib_report;

__attribute__((constructor(101))) static void ctor_lib_draws(void)
{
	ctor_report_draw(&ctor_lib_report);
}
