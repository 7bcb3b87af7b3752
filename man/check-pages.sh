#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-pages.sh GROFF MAN PAGE...: lint the man pages. groff with every warning on (-ww)
# must print nothing for any page, and man-db's man(1), when MAN is not empty, must render
# it without a warning either. The pages are first copied into a temporary man tree
# (manN/page.N), so that an alias page's `.so man3/target.3` resolves exactly as it does
# once installed. Exits 77 (skip) when groff is missing: Debian's groff-base provides it.
set -eu
. "$(dirname "$0")/man-tree.sh"

groff=${1-}
man=${2-}
shift 2 || true
if [ -z "$groff" ] || ! command -v "$groff" >/dev/null 2>&1; then
	echo "groff not found: skipping the man page lint"
	exit 77
fi
if [ $# -eq 0 ]; then
	echo "no pages given" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
man_tree "$tmp" "$@"

cd "$tmp"
fail=0
for p in "$@"; do
	name=${p##*/}
	page=man${name##*.}/$name
	if ! out=$(LC_ALL=C.UTF-8 "$groff" -man -ww -z -Tutf8 "$page" 2>&1); then
		echo "$name: groff failed"
		fail=1
	fi
	if [ -n "$out" ]; then
		printf '%s: groff warnings:\n%s\n' "$name" "$out"
		fail=1
	fi
	if [ -n "$man" ]; then
		# man-db adds its own preprocessing (preconv, .so, the '\" line); its warnings count too.
		if ! out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat \
			   "$man" --warnings=w -E UTF-8 -l "$page" 2>&1 >/dev/null); then
			echo "$name: man failed"
			fail=1
		fi
		if [ -n "$out" ]; then
			printf '%s: man warnings:\n%s\n' "$name" "$out"
			fail=1
		fi
	fi
done
if [ "$fail" -ne 0 ]; then
	exit 1
fi
echo "$# pages render without warnings"
