#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-symbols.sh SYMFILE HEADER MAN PAGE...: every exported function has a man page.
#
# The functions are the global symbols of the linker version script SYMFILE and every
# snapsafe_*() the public HEADER declares. PAGE... are the pages man/meson.build installs.
# For each function there must be an installed NAME.3, either a page whose NAME section
# lists the function or a one-line `.so man3/TARGET.3` alias whose TARGET is installed and
# lists it. Each NAME section may list only exported functions, and every page file in the
# directory of the pages must be installed. When MAN (man-db's man) is not empty, the pages
# are put in a temporary man tree and `man -M TREE 3 FUNCTION` must find and render each.
set -eu
. "$(dirname "$0")/man-tree.sh"

if [ $# -lt 4 ]; then
	echo "usage: $0 SYMFILE HEADER MAN PAGE..." >&2
	exit 1
fi
symfile=$1
header=$2
man=$3
shift 3

fail=0
err() {
	echo "$*"
	fail=1
}

# Global symbols of the version script: the lines between "global:" and "local:".
syms=$(sed -n '/global:/,/local:/p' "$symfile" | sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p')
# Functions the public header declares or names: snapsafe_xxx( anywhere in it.
hdr=$(grep -o 'snapsafe_[a-z0-9_]*(' "$header" | tr -d '(' | sort -u)
if [ -z "$syms" ]; then
	err "no global symbols found in $symfile"
fi
for f in $hdr; do
	case " $(echo $syms) " in
	*" $f "*) ;;
	*) err "$f: declared in $header but not exported by $symfile" ;;
	esac
done
funcs=$(printf '%s\n%s\n' "$syms" "$hdr" | sed '/^$/d' | sort -u)

# The installed pages, by file name.
installed=" "
mandir=
for p in "$@"; do
	installed="$installed${p##*/} "
	mandir=${p%/*}
done
is_installed() {
	case "$installed" in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# The words of a page's NAME section before "\-": the names it documents.
name_section() {
	awk '/^\.SH +"?NAME"?/ { on = 1; next }
	     /^\.SH/ { on = 0 }
	     on && !/^\./ { line = line " " $0 }
	     END { sub(/\\-.*/, "", line); gsub(/,/, " ", line); print line }' "$1"
}

# A one-line alias: the target file name of its .so request, else nothing.
so_target() {
	sed -n '1s|^\.so[[:space:]]\{1,\}man[0-9]/\([^[:space:]]*\)[[:space:]]*$|\1|p' "$1"
}

for f in $funcs; do
	page=$f.3
	if ! is_installed "$page"; then
		if [ -e "$mandir/$page" ]; then
			err "$f: $page exists but man/meson.build does not install it"
		else
			err "$f: no man page (add man/$page, or a .so alias to the page that documents it)"
		fi
		continue
	fi
	target=$(so_target "$mandir/$page")
	if [ -n "$target" ]; then
		if [ "$(wc -l < "$mandir/$page")" -ne 1 ]; then
			err "$page: an alias page must hold only its .so line"
		fi
		if ! is_installed "$target"; then
			err "$page: its .so target $target is not installed"
			continue
		fi
		doc=$target
	else
		doc=$page
	fi
	case " $(name_section "$mandir/$doc") " in
	*" $f "*) ;;
	*) err "$f: the NAME section of $doc does not list it" ;;
	esac
done

# No page documents a function that is not exported (a stale or misspelt name).
for p in "$@"; do
	name=${p##*/}
	case "$name" in
	*.3) ;;
	*) continue ;;
	esac
	[ -n "$(so_target "$p")" ] && continue
	for w in $(name_section "$p"); do
		case " $(echo $funcs) " in
		*" $w "*) ;;
		*) err "$name: NAME lists $w, which libsnapsafe does not export" ;;
		esac
	done
done

# Every page in the directory is installed.
for p in "$mandir"/*.[1-9]; do
	[ -e "$p" ] || continue
	is_installed "${p##*/}" || err "${p##*/}: not installed by man/meson.build"
done

# As a user would look them up, when man-db is there.
if [ -n "$man" ] && command -v "$man" >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	man_tree "$tmp" "$@"
	for f in $funcs; do
		if ! out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat \
			   "$man" -M "$tmp" 3 "$f" 2>&1); then
			err "man 3 $f: not found or failed: $out"
			continue
		fi
		case "$out" in
		*"$f"*) ;;
		*) err "man 3 $f: the page shown does not mention $f" ;;
		esac
	done
fi

if [ "$fail" -ne 0 ]; then
	exit 1
fi
echo "$(echo "$funcs" | wc -l) exported functions, each with a man page"
