#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# CRIU for the criu suite: 4.2.1 from Debian sid, unpacked into a cached root with its own
# libraries (test/helpers/fetch-debian-root.sh), and `criu check` run once. Debian 12's CRIU
# 3.17 cannot dump on current kernels and trixie's 4.1.1 hangs in dump; 4.2.1 works.
# Prints the command that runs criu through the root's own loader, one word per line. In the
# suite it loads no plugin, and the only program it starts is the action script, through the
# machine's own sh (an exec'd program does not inherit the loader's --library-path).
# Exit 1 with the reason when CRIU cannot be fetched or `criu check` fails.
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
root=$("$here/../helpers/fetch-debian-root.sh" --suites sid --resolve \
	criu-4.2 criu=4.2.1-1 libcompel1=4.2.1-1) ||
	{ echo "fetch-criu: cannot fetch CRIU 4.2.1 from Debian sid" >&2; exit 1; }
lib=$root/usr/lib/x86_64-linux-gnu
criu=("$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$root/usr/sbin/criu")

if ! out=$(timeout 120 "${criu[@]}" check 2>&1); then
	echo "fetch-criu: 'criu check' fails on this machine, so the criu suite cannot run:" >&2
	echo "$out" >&2
	exit 1
fi
printf '%s\n' "${criu[@]}"
