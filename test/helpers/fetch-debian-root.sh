#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetch packages of another Debian suite (newer QEMU, guest kernels, CRIU, OpenSSL) into one
# unpacked root, without installing anything and without touching the machine's own apt
# configuration: a private apt setup in the cache (its own sources list, lists, archives and
# an empty dpkg status) runs `apt-get update` and `apt-get download`, and `dpkg-deb -x`
# unpacks every package into the root. Programs there run through the root's own loader:
#   LIB=ROOT/usr/lib/x86_64-linux-gnu; $LIB/ld-linux-x86-64.so.2 --library-path $LIB PROGRAM
#
# Usage: fetch-debian-root.sh [options] NAME PACKAGE...
#   --suites "S1 S2"     the suites the private sources list names (default: trixie)
#   --resolve            add every dependency of PACKAGE... (apt-get install -s, empty status)
#   --release R          the release that resolving prefers (apt's -t; e.g. a backports suite)
#   --check 'COMMAND'    run by bash with $ROOT set once the root is unpacked: it must succeed
# PACKAGE is anything apt-get download takes: name, name=version, name/suite.
# Prints ROOT. Cache: $SNAPSAFE_DEBIAN_CACHE/NAME, else ${XDG_CACHE_HOME:-~/.cache}/snapsafe/NAME.
#
# The cache holds only a complete root: it is unpacked in a temporary folder, checked, and
# renamed into place, then marked .complete, all under a lock, so that runs in parallel fetch
# once and never see half a root; what an interrupted run left is removed by the next. A root
# is complete for one request only: another package list or suites refetch it. The archive is
# the one the machine's own Debian sources name (else deb.debian.org), checked with the
# machine's Debian archive keyring.
set -euo pipefail

suites=trixie resolve=0 release= check=
while [ $# -gt 0 ]; do
	case $1 in
	--suites) suites=$2; shift 2 ;;
	--resolve) resolve=1; shift ;;
	--release) release=$2; shift 2 ;;
	--check) check=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "fetch-debian-root: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { echo "usage: fetch-debian-root.sh [options] NAME PACKAGE..." >&2; exit 2; }
name=$1; shift
packages=("$@")

base=${SNAPSAFE_DEBIAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapsafe}
cache=$base/$name
dest=$cache/root
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
request="suites=$suites resolve=$resolve release=$release packages=${packages[*]}"

die() { echo "fetch-debian-root ($name): $*" >&2; exit 1; }

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

complete() { [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$request" ]; }

mkdir -p "$cache" 2>/dev/null ||
	die "cannot create the cache $cache (set SNAPSAFE_DEBIAN_CACHE to a writable folder)"
if ! complete; then
	exec 8>"$cache/.lock"
	if ! flock -n 8; then
		echo "fetch-debian-root ($name): waiting for another run's download" >&2
		flock -w 1800 8 || die "$cache/.lock still locked after 30 min"
	fi
fi
if ! complete; then
	[ -r "$keyring" ] || die "no $keyring (apt-get install debian-archive-keyring)"
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
		die "apt-get and dpkg-deb are needed (a Debian machine)"
	rm -rf "$dest" "$cache"/.tmp.*
	tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	apt=$tmp/apt
	mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs" "$apt/prefs.d" "$tmp/root"
	: >"$apt/status"
	for s in $suites; do
		echo "deb [signed-by=$keyring] $(mirror) $s main"
	done >"$apt/sources.list"
	opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=-
	      -o "Dir::Etc::preferencesparts=$apt/prefs.d" -o "Dir::Etc::preferences=$apt/prefs"
	      -o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt"
	      -o "Dir::Cache::archives=$apt/archives" -o "Dir::State::status=$apt/status"
	      -o APT::Architecture=amd64 -o APT::Architectures=amd64
	      -o APT::Sandbox::User=root -o Acquire::Retries=3)
	echo "fetch-debian-root ($name): apt-get update ($suites, private lists in $apt)" >&2
	apt-get "${opts[@]}" update -qq --error-on=any >&2 ||
		die "apt-get update of Debian $suites failed: $(cat "$apt/sources.list")" \
		    "(no network to the Debian mirror? this is needed once, then the cache serves)"
	list=("${packages[@]}")
	if [ $resolve = 1 ]; then
		rel=()
		[ -z "$release" ] || rel=(-t "$release")
		# "Inst NAME (VERSION SUITE [arch])": every package an empty system needs for them.
		mapfile -t list < <(apt-get "${opts[@]}" "${rel[@]}" install -s -qq \
			--no-install-recommends "${packages[@]}" 2>"$tmp/resolve.err" |
			sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p')
		[ ${#list[@]} -gt 0 ] ||
			die "apt-get cannot resolve ${packages[*]}: $(cat "$tmp/resolve.err")"
	fi
	echo "fetch-debian-root ($name): apt-get download of ${#list[@]} packages" >&2
	(cd "$apt/debs" && apt-get "${opts[@]}" download -q "${list[@]}" >&2) ||
		die "apt-get download ${list[*]} from Debian $suites failed"
	for deb in "$apt/debs"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
	done
	(cd "$apt/debs" && ls) >"$tmp/root/.packages"
	if [ -n "$check" ]; then
		ROOT=$tmp/root bash -c "$check" >&2 || die "the unpacked root fails its check: $check"
	fi
	mv "$tmp/root" "$dest"
	echo "$request" >"$dest/.complete"
	rm -rf "$tmp"
	trap - EXIT
fi
echo "$dest"
