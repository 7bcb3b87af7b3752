#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetch Debian 13's OpenSSL (3.5) and the C library it was built for, without installing
# anything and without touching the machine's own apt configuration: a private apt setup in
# the cache (its own sources list naming trixie, its own lists and archives) runs
# `apt-get update` and `apt-get download`, and `dpkg-deb -x` unpacks the packages into one
# root. Programs there run through that root's own loader:
#   LIB=ROOT/usr/lib/x86_64-linux-gnu; $LIB/ld-linux-x86-64.so.2 --library-path $LIB PROGRAM ...
# Prints ROOT.
#
# The cache holds only a complete root: it is unpacked in a temporary folder, checked (its
# openssl runs and says 3.5 or later) and renamed into place, then marked .complete, all under
# a lock, so that runs in parallel fetch once and never see half a root; what an interrupted
# run left is removed by the next. The archive is the one the machine's own Debian sources
# name (else deb.debian.org), checked with the machine's Debian archive keyring.
#
# Cache: $SNAPSAFE_OPENSSL35_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/snapsafe/openssl-3.5.
set -euo pipefail

cache=${SNAPSAFE_OPENSSL35_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapsafe/openssl-3.5}
suite=trixie
packages=(openssl libssl3t64 libc6 libzstd1 zlib1g)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
dest=$cache/root

die() { echo "fetch-openssl35: $*" >&2; exit 1; }

# The Debian archive the machine uses: the first deb822 or one-line source of .../debian.
mirror()
{
	local uri
	uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	      sed -n 's|^URIs:[[:space:]]*\([^[:space:]]*/debian\)/\{0,1\}$|\1|p' | head -n 1)
	# One-line form: "deb [options] URI suite ...".
	[ -n "$uri" ] || uri=$(cat /etc/apt/sources.list 2>/dev/null |
	      sed -n '/^deb[[:space:]]/{ s/^deb[[:space:]]*//; s/^\[[^]]*\][[:space:]]*//
			s/[[:space:]].*//; /\/debian\/\{0,1\}$/{ s|/$||; p; } }' | head -n 1)
	echo "${uri:-http://deb.debian.org/debian}"
}

check_root()	# ROOT: its openssl runs through its own loader and is 3.5 or later
{
	local lib=$1/usr/lib/x86_64-linux-gnu v
	v=$("$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$1/usr/bin/openssl" version 2>&1) ||
		return 1
	[[ $v =~ ^OpenSSL\ 3\.([5-9]|[1-9][0-9]) ]] || { echo "$v" >&2; return 1; }
}

mkdir -p "$cache" 2>/dev/null ||
	die "cannot create the cache $cache (set SNAPSAFE_OPENSSL35_CACHE to a writable folder)"
if [ ! -f "$dest/.complete" ]; then
	exec 8>"$cache/.lock"
	if ! flock -n 8; then
		echo "fetch-openssl35: waiting for another run's download" >&2
		flock -w 1800 8 || die "$cache/.lock still locked after 30 min"
	fi
fi
if [ ! -f "$dest/.complete" ]; then
	[ -r "$keyring" ] || die "no $keyring (apt-get install debian-archive-keyring)"
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
		die "apt-get and dpkg-deb are needed (a Debian machine)"
	rm -rf "$dest" "$cache"/.tmp.*
	tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	apt=$tmp/apt
	mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs" "$tmp/root"
	: >"$apt/status"
	echo "deb [signed-by=$keyring] $(mirror) $suite main" >"$apt/sources.list"
	opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=-
	      -o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt"
	      -o "Dir::Cache::archives=$apt/archives" -o "Dir::State::status=$apt/status"
	      -o APT::Architecture=amd64 -o APT::Sandbox::User=root -o Acquire::Retries=3)
	echo "fetch-openssl35: apt-get update ($suite, private lists in $apt)" >&2
	apt-get "${opts[@]}" update -qq --error-on=any >&2 ||
		die "apt-get update of Debian $suite failed: $(cat "$apt/sources.list")" \
		    "(no network to the Debian mirror? the OpenSSL 3.5 test needs it once)"
	echo "fetch-openssl35: apt-get download ${packages[*]}" >&2
	(cd "$apt/debs" && apt-get "${opts[@]}" download -q "${packages[@]}" >&2) ||
		die "apt-get download ${packages[*]} from Debian $suite failed"
	for deb in "$apt/debs"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
	done
	(cd "$apt/debs" && ls) >"$tmp/root/.packages"
	check_root "$tmp/root" || die "the unpacked openssl does not run or is not 3.5+"
	mv "$tmp/root" "$dest"
	touch "$dest/.complete"
	rm -rf "$tmp"
	trap - EXIT
fi
echo "$dest"
