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

ensure_lists()
{
	if [ -z "$(pkg_field "linux-headers-$release" Version)" ]; then
		# The lock of tools/deps and vmlib.py: the tests run in parallel.
		flock "${TMPDIR:-/tmp}/snapsafe-apt.lock" apt-get update -qq >&2 ||
			die "apt-get update failed"
	fi
}

if [ ! -f "$dest/.complete" ]; then
	ensure_lists
	if [ -z "$version" ]; then
		version=$(pkg_field "linux-image-$release" Version)
		[ -n "$version" ] || version=$(pkg_field "linux-image-$release-unsigned" Version)
		[ -n "$version" ] || die "no package linux-image-$release known to apt"
	fi
	headers=linux-headers-$release
	deps=$(pkg_field "$headers=$version" Depends)
	[ -n "$deps" ] || die "no $headers version $version known to apt"
	# The arch headers name the common headers and the kbuild tools they were built with:
	# pin both to the same source version (bookworm main may carry an older kbuild).
	pkgs=("$headers=$version")
	for dep in $(echo "$deps" | tr ',' '\n' | sed 's/^ *//; s/ .*//'); do
		case $dep in
		linux-headers-*-common|linux-headers-*-common-*|linux-kbuild-*)
			pkgs+=("$dep=$version");;
		esac
	done
	[ "${#pkgs[@]}" -ge 3 ] || die "unexpected dependencies of $headers: $deps"

	tmp=$(mktemp -d "$cache_root.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root" &&
		mktemp -d "$cache_root.tmp.XXXXXX"; })
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "${pkgs[@]}" >&2) || die "apt-get download ${pkgs[*]} failed"
	mkdir -p "$tmp/root"
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$tmp/root"
	done
	printf '%s\n' "${pkgs[@]}" > "$tmp/root/.packages"
	mkdir -p "$cache_root"
	rm -rf "$dest"
	mv "$tmp/root" "$dest"
	touch "$dest/.complete"
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
