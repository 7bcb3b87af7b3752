# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the man page tests: man_tree DIR PAGE... copies each page into DIR/manN/, the
# layout of an installed man tree, so that `.so man3/x.3` aliases resolve and `man -M DIR`
# finds the pages as a user would.
man_tree() {
	_tree=$1
	shift
	for _p in "$@"; do
		_name=${_p##*/}
		mkdir -p "$_tree/man${_name##*.}"
		cp "$_p" "$_tree/man${_name##*.}/$_name"
	done
}
