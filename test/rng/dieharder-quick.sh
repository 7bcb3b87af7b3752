#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A quick subset of dieharder on the engine's output stream (the full `-a` run is
# tools/dieharder-full). Fails if any test says FAILED; WEAK is reported, since a
# healthy generator is WEAK about once in a few hundred results.
# Usage: dieharder-quick.sh PATH-TO-snapsafe-stream
set -euo pipefail
stream=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# birthdays, 32x32 rank, count-1s stream, monobit, runs, 1- to 4-bit distributions
for t in "-d 0" "-d 2" "-d 8" "-d 100" "-d 101" "-d 200 -n 1" "-d 200 -n 2" "-d 200 -n 4"; do
	# shellcheck disable=SC2086
	SNAPSAFE_ENGINE=always "$stream" | dieharder -g 200 $t | tee -a "$out" | grep -E '\|' | tail -n +2
done
if grep -q FAILED "$out"; then
	echo "dieharder: FAILED results above" >&2
	exit 1
fi
grep -cE 'PASSED|WEAK' "$out" | sed 's/^/dieharder: results without failure: /'
