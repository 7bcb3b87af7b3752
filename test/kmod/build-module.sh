#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build kmod/sysgenid.ko for one guest kernel release from the Debian header packages (fetched
# and cached by kheaders.sh), in a copy of the module sources under OUTDIR so that the source
# tree stays clean and several kernels can be built side by side. It goes through kmod/Makefile,
# the one users and DKMS run, with W=1; any compiler warning fails the build, as -Werror does
# for the rest of the project. Prints the path of the module.
#
# Usage: build-module.sh RELEASE OUTDIR [DEB_VERSION]
set -euo pipefail

release=${1:?usage: build-module.sh RELEASE OUTDIR [DEB_VERSION]}
outdir=${2:?usage: build-module.sh RELEASE OUTDIR [DEB_VERSION]}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../kmod" && pwd)

mapfile -t dirs < <("$here/kheaders.sh" "$release" ${3:+"$3"})
[ "${#dirs[@]}" -eq 2 ] || { echo "build-module: kheaders.sh failed" >&2; exit 1; }

work=$outdir/sysgenid-$release
mkdir -p "$work"
# Copy only what Kbuild reads; keep earlier objects so an unchanged module is not rebuilt.
for f in Makefile Kbuild sysgenid.c include/uapi/linux/sysgenid.h; do
	mkdir -p "$work/$(dirname "$f")"
	cmp -s "$src/$f" "$work/$f" || cp "$src/$f" "$work/$f"
done

log=$work/build.log
# BTF for modules needs pahole and the kernel's vmlinux, neither of which a headers tree has;
# the module loads without it.
if ! make -s -C "$work" KVER="$release" KDIR="${dirs[0]}" KDIR_COMMON="${dirs[1]}" \
	CONFIG_DEBUG_INFO_BTF_MODULES= W=1 modules > "$log" 2>&1; then
	cat "$log" >&2
	echo "build-module: build against $release failed" >&2
	exit 1
fi
if grep -q 'warning:' "$log"; then
	cat "$log" >&2
	echo "build-module: warnings building against $release" >&2
	exit 1
fi
[ -f "$work/sysgenid.ko" ] || { echo "build-module: no sysgenid.ko" >&2; exit 1; }
echo "$work/sysgenid.ko"
