#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-version.sh VERSION SOURCE_ROOT PROBE SNAPSAFED SNAPSAFECTL PC: one version everywhere.
# VERSION is meson.build's project version, the source of every other: the header's macros
# (PROBE, test/packaging/version-probe.c), `snapsafed --version` and `snapsafectl --version`,
# the generated snapsafe.pc (PC), kmod/dkms.conf and the module's MODULE_VERSION, the upstream
# part of debian/changelog's newest entry, and NEWS's newest release. Prints each it read.
set -eu

if [ $# -ne 6 ]; then
	echo "usage: $0 VERSION SOURCE_ROOT PROBE SNAPSAFED SNAPSAFECTL PC" >&2
	exit 1
fi
version=$1 src=$2 probe=$3 snapsafed=$4 snapsafectl=$5 pc=$6
fail=0

check() {	# what, the version it gives
	if [ "$2" = "$version" ]; then
		printf '%-40s %s\n' "$1" "$2"
	else
		printf '%-40s %s, not %s\n' "$1" "${2:-(none)}" "$version"
		fail=1
	fi
}

probe_out=$("$probe")
check 'SNAPSAFE_VERSION_STRING' "${probe_out% *}"
check 'SNAPSAFE_VERSION_MAJOR.MINOR.PATCH' "${probe_out#* }"
# "snapsafed 0.1.0 (protocol 1, page version 1)", "snapsafectl 0.1.0 (control protocol 1)"
out=$("$snapsafed" --version)
check 'snapsafed --version' "$(echo "$out" | sed -n 's/^snapsafed \([^ ]*\).*/\1/p')"
out=$("$snapsafed" -V)
check 'snapsafed -V' "$(echo "$out" | sed -n 's/^snapsafed \([^ ]*\).*/\1/p')"
out=$("$snapsafectl" --version)
check 'snapsafectl --version' "$(echo "$out" | sed -n 's/^snapsafectl \([^ ]*\).*/\1/p')"
out=$("$snapsafectl" -V)
check 'snapsafectl -V' "$(echo "$out" | sed -n 's/^snapsafectl \([^ ]*\).*/\1/p')"
check 'snapsafe.pc Version' "$(sed -n 's/^Version: *//p' "$pc")"
check 'kmod/dkms.conf PACKAGE_VERSION' \
	"$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/kmod/dkms.conf")"
check 'kmod/sysgenid.c MODULE_VERSION' \
	"$(sed -n 's/^MODULE_VERSION("\(.*\)");$/\1/p' "$src/kmod/sysgenid.c")"
# "snapsafe (0.1.0-1) unstable; urgency=medium": the version without the Debian revision.
check 'debian/changelog' \
	"$(sed -n '1s/^snapsafe (\(.*\)-[^-]*).*/\1/p' "$src/debian/changelog")"
# The first "snapsafe X.Y.Z ..." line of NEWS is the newest release.
check 'NEWS' "$(sed -n 's/^snapsafe \([0-9][^ ]*\).*/\1/p' "$src/NEWS" | head -n 1)"
exit $fail
