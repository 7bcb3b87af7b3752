#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetch the Debian kernel header packages for one guest kernel release and unpack them into a
# cache, without installing anything: `apt-get download` + `dpkg -x` of the arch headers, the
# common headers and the kbuild tools into one root, where their relative symlinks resolve.
# Prints two lines: the arch headers directory and the common headers directory, which is what
# `make -C <arch> -f <common>/Makefile M=<module dir> modules` needs.
#
# The release is what the guest's `uname -r` says (e.g. 6.1.0-56-amd64 or
# 6.12.117+deb12-cloud-amd64), that is the suffix of the image package linux-image-<release>
# that the VM harness boots. The version defaults to that image package's candidate version,
# so the headers are exactly the booted kernel's (a module built for another version is refused).
#
# The cache holds only complete trees: the packages are downloaded and unpacked in a temporary
# folder inside the cache and renamed into place, then marked .complete, all under a lock per
# release, so that runs in parallel fetch once and never see a half-written tree, and what an
# interrupted run left (a temporary folder, a tree without its mark) is removed by the next.
# When apt's lists do not know the packages, or name versions the mirror no longer serves,
# they are updated once (as root).
#
# Usage: kheaders.sh RELEASE [DEB_VERSION]
# Cache: $SNAPSAFE_KHEADERS_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/snapsafe/kheaders/<release>.
set -euo pipefail

release=${1:?usage: kheaders.sh RELEASE [DEB_VERSION]}
version=${2:-}
cache_root=${SNAPSAFE_KHEADERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapsafe/kheaders}
dest=$cache_root/$release

die() { echo "kheaders: $*" >&2; exit 1; }

# apt-cache needs package lists; a fresh machine may have none yet.
pkg_field() # PACKAGE[=VERSION] FIELD
{
	apt-cache show "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1
}

updated=
apt_update()	# once per run, as root, under the lock of tools/deps and vmlib.py
{
	[ -z "$updated" ] || return 1
	updated=1
	[ "$(id -u)" -eq 0 ] || return 1
	echo "kheaders: apt-get update (the package lists lack or no longer serve the headers)" >&2
	flock -w 1800 "${TMPDIR:-/tmp}/snapsafe-apt.lock" \
		apt-get update -qq -o Acquire::Retries=3 >&2 || die "apt-get update failed"
}

resolve()	# sets pkgs: the three header packages of the image's version
{
	local v=$version deps dep headers=linux-headers-$release
	if [ -z "$v" ]; then
		v=$(pkg_field "linux-image-$release" Version)
		[ -n "$v" ] || v=$(pkg_field "linux-image-$release-unsigned" Version)
		[ -n "$v" ] || return 1
	fi
	deps=$(pkg_field "$headers=$v" Depends)
	[ -n "$deps" ] || return 1
	# The arch headers name the common headers and the kbuild tools they were built with:
	# pin both to the same source version (bookworm main may carry an older kbuild).
	pkgs=("$headers=$v")
	for dep in $(echo "$deps" | tr ',' '\n' | sed 's/^ *//; s/ .*//'); do
		case $dep in
		linux-headers-*-common|linux-headers-*-common-*|linux-kbuild-*)
			pkgs+=("$dep=$v");;
		esac
	done
	[ "${#pkgs[@]}" -ge 3 ] || die "unexpected dependencies of $headers: $deps"
}

download()	# into the current directory; apt checks each file against its lists' hash
{
	rm -f ./*.deb
	apt-get download -q -o Acquire::Retries=3 -o APT::Sandbox::User=root "${pkgs[@]}" >&2
}

mkdir -p "$cache_root" 2>/dev/null || die "cannot create the cache $cache_root" \
	"(set SNAPSAFE_KHEADERS_CACHE to a writable directory)"
if [ ! -f "$dest/.complete" ]; then
	exec 8>"$cache_root/.lock-$release"
	if ! flock -n 8; then
		echo "kheaders: waiting for another run's download of $release" >&2
		flock -w 1800 8 || die "$cache_root/.lock-$release still locked after 30 min"
	fi
fi
if [ ! -f "$dest/.complete" ]; then	# not fetched by the run we waited for
	# What an interrupted run left; we hold the release's lock.
	rm -rf "$dest" "$cache_root/.tmp-$release".*
	resolve || { apt_update && resolve; } ||
		die "apt knows no linux-headers-$release for the image" \
		    "(no package lists? as root: apt-get update)"
	tmp=$(mktemp -d "$cache_root/.tmp-$release.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! (cd "$tmp" && download); then
		# Lists older than the mirror name files it no longer has: update and resolve again.
		{ apt_update && resolve && (cd "$tmp" && download); } ||
			die "apt-get download ${pkgs[*]} failed (as root: apt-get update)"
	fi
	mkdir "$tmp/root"
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$tmp/root"
	done
	printf '%s\n' "${pkgs[@]}" > "$tmp/root/.packages"
	mv "$tmp/root" "$dest"
	touch "$dest/.complete"
	rm -rf "$tmp"
	trap - EXIT
fi

arch_dir=$dest/usr/src/linux-headers-$release
[ -f "$arch_dir/Makefile" ] || die "$arch_dir/Makefile missing"
# The arch Makefile includes the common one by its absolute installed path: find it in our root.
common_rel=$(sed -n 's|^include \(/usr/src/[^ ]*\)/Makefile$|\1|p' "$arch_dir/Makefile" | head -n 1)
[ -n "$common_rel" ] || die "cannot find the common headers named by $arch_dir/Makefile"
common_dir=$dest$common_rel
[ -f "$common_dir/Makefile" ] || die "$common_dir/Makefile missing"
echo "$arch_dir"
echo "$common_dir"
