#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-unit.sh SYSTEMD_ANALYZE UNIT [PAGE...]: `systemd-analyze verify` must accept UNIT
# without a word of complaint (it only warns, exit 0, about an unknown or misspelt setting,
# so any output fails the test). PAGE... form a temporary man tree on $MANPATH, so that
# verify also proves that every man: link of Documentation= exists. Exits 77 (skip) when
# systemd-analyze is missing.
set -eu

analyze=${1-}
unit=${2-}
shift 2 || true
if [ -z "$analyze" ] || ! command -v "$analyze" >/dev/null 2>&1; then
	echo "systemd-analyze not found: skipping the unit check"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in "$@"; do
	name=${p##*/}
	mkdir -p "$tmp/man${name##*.}"
	cp "$p" "$tmp/man${name##*.}/$name"
done

man_opt=
if [ $# -eq 0 ]; then
	man_opt=--man=no	# no pages to check the links against
fi
if ! out=$(MANPATH=$tmp "$analyze" verify $man_opt "$unit" 2>&1); then
	printf 'systemd-analyze verify %s failed:\n%s\n' "$unit" "$out"
	exit 1
fi
if [ -n "$out" ]; then
	printf 'systemd-analyze verify %s complained:\n%s\n' "$unit" "$out"
	exit 1
fi
echo "${unit##*/}: verified"
