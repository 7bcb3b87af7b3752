#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build kmod/sysgenid.ko for one guest kernel release the way users do, with DKMS and the
# project's kmod/dkms.conf, against the Debian header packages that kheaders.sh fetched. DKMS
# runs with private trees under OUTDIR (--dkmstree, --sourcetree): nothing on the host's
# /usr/src, /var/lib/dkms or /lib/modules is touched, and nothing is installed. The unpacked
# headers are not at their installed paths, so the common headers tree goes to kmod/Makefile
# in KDIR_COMMON (an installed header package needs nothing of the kind). Prints the module.
#
# Usage: dkms-build.sh RELEASE OUTDIR [DEB_VERSION]
set -euo pipefail

release=${1:?usage: dkms-build.sh RELEASE OUTDIR [DEB_VERSION]}
outdir=${2:?usage: dkms-build.sh RELEASE OUTDIR [DEB_VERSION]}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../kmod" && pwd)

command -v dkms >/dev/null || { echo "dkms-build: dkms is not installed" >&2; exit 1; }
mapfile -t dirs < <("$here/kheaders.sh" "$release" ${3:+"$3"})
[ "${#dirs[@]}" -eq 2 ] || { echo "dkms-build: kheaders.sh failed" >&2; exit 1; }

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$src/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || { echo "dkms-build: cannot read dkms.conf" >&2; exit 1; }

root=$outdir/dkms-$release
rm -rf "$root"
mkdir -p "$root/tree" "$root/src/$name-$version/include/uapi/linux"
# What a user puts under /usr/src/<name>-<version>: the kmod folder (docs excepted).
for f in dkms.conf Makefile Kbuild sysgenid.c include/uapi/linux/sysgenid.h; do
	cp "$src/$f" "$root/src/$name-$version/$f"
done
trees=(--dkmstree "$root/tree" --sourcetree "$root/src")
log=$root/dkms.log
if ! { dkms add -m "$name" -v "$version" "${trees[@]}" &&
       KDIR_COMMON=${dirs[1]} dkms build -m "$name" -v "$version" -k "$release" \
		--kernelsourcedir "${dirs[0]}" "${trees[@]}" &&
       dkms status -m "$name" -v "$version" -k "$release" "${trees[@]}"; } > "$log" 2>&1; then
	cat "$log" >&2
	find "$root/tree" -name make.log -exec cat {} + >&2 || true
	echo "dkms-build: dkms failed for $release" >&2
	exit 1
fi
grep -q ": built" "$log" || { cat "$log" >&2; echo "dkms-build: not built" >&2; exit 1; }
ko=$(find "$root/tree/$name/$version/$release" -name sysgenid.ko | head -n 1)
[ -n "$ko" ] || { echo "dkms-build: no sysgenid.ko" >&2; exit 1; }
echo "$ko"
