/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The few macros every file of libsnapsafe uses: EXPORT marks the public API (the library
 * is built -fvisibility=hidden and libsnapsafe.sym lists what it exports), branch hints and
 * a compiler barrier. Private: never installed.
 */
#ifndef SNAPSAFE_LIB_MACRO_H
#define SNAPSAFE_LIB_MACRO_H

#define EXPORT		__attribute__((visibility("default")))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
/* Orders this thread's accesses against a signal handler on the same thread. */
#define barrier()	__asm__ __volatile__("" ::: "memory")

#endif
