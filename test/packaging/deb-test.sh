#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# deb-test.sh SOURCE_ROOT: the Debian packages end to end (docs/packaging.md).
#
#  1. Copies the source tree (what git tracks, plus the untracked files it does not ignore;
#     outside git, the tree without Meson build folders) and builds it with `dpkg-buildpackage -us -uc
#     -b` and DEB_BUILD_OPTIONS=nocheck: the suite itself runs from the meson build tree.
#  2. lintian on the result: no error (all it says is printed).
#  3. The -dev package on the host: a program compiles against its header and links its
#     shared and its static library (the archive exports only snapsafe_*).
#  4. A clean Debian 12 root: mmdebstrap's minbase plus what the packages and the checks use
#     (dkms, openssl, init-system-helpers), from the machine's own apt sources, cached as a
#     tarball. The packages are installed there with `apt-get install ./*.deb`; the versions
#     are checked, snapsafed is started on a private runtime directory and asked with
#     snapsafectl, the packages are purged, and the tree must be as it was before the install.
#
# Runs as root (chroot, mounts); exits 77 otherwise (1 under CI=true, where a skipped proof
# is a failure). The root's part runs in its own mount and PID namespaces (unshare), so that
# its mounts and processes end with it however the test ends, SIGKILL included. Every step
# has a deadline. Environment: SNAPSAFE_PKG_CACHE (default ~/.cache/snapsafe/packaging) holds
# the base tarball; KEEP=1 keeps the work folder.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

log() {
	printf '[%4d s] %s\n' "$SECONDS" "$*"
}
die() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}
# run SECONDS WHAT COMMAND...: COMMAND (a program, not a function) with a deadline: SIGTERM,
# then SIGKILL 30 s later. Says how long it took, or why it failed (and returns 1).
run() {
	local limit=$1 what=$2 start=$SECONDS rc=0
	shift 2
	timeout --kill-after=30 "$limit" "$@" || rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL: $what: no end after $limit s"
		return 1
	elif [ $rc -ne 0 ]; then
		echo "FAIL: $what: exit status $rc"
		return 1
	fi
	log "$what: $((SECONDS - start)) s"
}

# ---- inside the namespaces: the root's part ----------------------------------------------
# inner ROOT DEBDIR VERSION: runs as PID 1 of a new PID namespace, in a private mount
# namespace; ROOT is the unpacked base, DEBDIR holds the .debs.
if [ "${1-}" = --inner ]; then
	root=$2 debdir=$3 version=$4
	# A command in the root, with a clean environment.
	in_root=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
		 DEBIAN_FRONTEND=noninteractive)
	in_root() {	# a short command: 60 s at most
		timeout --kill-after=5 60 "${in_root[@]}" "$@"
	}
	# The tree as a list of paths and types, without what apt and dpkg keep for themselves
	# (their state, logs, caches) and the mounted /proc and /run: what a purge must restore.
	tree() {
		(cd "$root" && find . -xdev \( -path ./proc -o -path ./run -o -path ./tmp \
			-o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/cache/apt \
			-o -path ./var/cache/debconf -o -path ./var/cache/ldconfig -o -path ./var/log \
			\) -prune -o -printf '%p %y\n' | LC_ALL=C sort)
	}
	mount -t proc proc "$root/proc"
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
	tree >"$root/../tree-before"

	log "installing $(cd "$debdir" && echo *.deb)"
	mkdir -p "$root/tmp/debs"
	cp "$debdir"/*.deb "$root/tmp/debs/"
	run 900 'apt-get install ./*.deb' "${in_root[@]}" sh -c 'cd /tmp/debs && apt-get install \
		-y -q --no-install-recommends -o Acquire::Retries=3 ./*.deb' \
		>"$root/../apt-install.log" 2>&1 ||
		{ cat "$root/../apt-install.log"; exit 1; }
	rm -rf "$root/tmp/debs"

	# What the packages installed, by name.
	for f in /usr/sbin/snapsafed /usr/bin/snapsafectl /lib/systemd/system/snapsafed.service \
		/etc/default/snapsafed /usr/include/snapsafe/snapsafe.h \
		/usr/include/snapsafe/snapsafe-version.h; do
		[ -e "$root$f" ] || die "$f is not installed"
	done
	ls "$root"/usr/lib/*/libsnapsafe.so.0 >/dev/null || die "libsnapsafe.so.0 is not installed"
	ls "$root"/usr/lib/*/ossl-modules/snapsafe.so >/dev/null ||
		die "the OpenSSL provider is not installed"
	# deb-systemd-helper enabled the unit (it is not started: no systemd runs in a chroot).
	[ -L "$root/etc/systemd/system/sysinit.target.wants/snapsafed.service" ] ||
		die "snapsafed.service was not enabled"
	out=$(in_root snapsafectl --version)
	echo "$out"
	[ "${out#snapsafectl "$version" }" != "$out" ] || die "snapsafectl --version: not $version"
	out=$(in_root snapsafed --version)
	echo "$out"
	[ "${out#snapsafed "$version" }" != "$out" ] || die "snapsafed --version: not $version"
	if [ -x "$root/usr/bin/snapsafe-run" ]; then
		out=$(in_root snapsafe-run --version)
		echo "$out"
		case $out in *"$version"*) ;; *) die "snapsafe-run --version: not $version" ;; esac
	fi
	# DKMS took the module's sources (it builds nothing: no kernel headers in this root).
	out=$(in_root dkms status)
	echo "dkms status: $out"
	case $out in snapsafe-sysgenid/"$version"*) ;; *) die "DKMS does not know the module" ;; esac
	# OpenSSL finds the provider in its modules folder.
	out=$(in_root openssl list -providers -provider snapsafe)
	echo "$out"
	case $out in *snapsafe*active*) ;; *) die "OpenSSL did not load the snapsafe provider" ;; esac

	# snapsafed on a private runtime directory: the root's /run is a tmpfs of its own. It is a
	# child of this shell (chroot execs it), so its pid is known and it dies with the namespace.
	rt=/run/snapsafe-test
	mkdir -m 0755 "$root$rt"
	"${in_root[@]}" snapsafed --runtime-dir "$rt" --no-uevent >"$root/../snapsafed.log" 2>&1 &
	daemon=$!
	deadline=$((SECONDS + 60))
	until timeout 10 "${in_root[@]}" snapsafectl --runtime-dir "$rt" status >/dev/null 2>&1; do
		if ! kill -0 $daemon 2>/dev/null; then
			cat "$root/../snapsafed.log"
			die "snapsafed exited at start"
		fi
		if [ $SECONDS -ge $deadline ]; then
			cat "$root/../snapsafed.log"
			die "snapsafed did not answer within 60 s"
		fi
		sleep 0.2
	done
	log "snapsafed answers"
	in_root snapsafectl --runtime-dir "$rt" status
	gen=$(in_root snapsafectl --runtime-dir "$rt" trigger)
	echo "trigger: $gen"
	out=$(in_root snapsafectl --runtime-dir "$rt" status --json)
	echo "$out"
	case $out in *"\"generation\":$gen,"*) ;; *) die "status does not show generation $gen" ;; esac
	kill -TERM $daemon
	deadline=$((SECONDS + 30))
	while kill -0 $daemon 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || die "snapsafed still runs 30 s after SIGTERM"
		sleep 0.1
	done
	rc=0
	wait $daemon || rc=$?
	[ $rc -eq 0 ] || { cat "$root/../snapsafed.log"; die "snapsafed exited with $rc on SIGTERM"; }
	# Without a daemon, status reads the page: it must say the daemon stopped (exit 3).
	rc=0
	out=$(in_root snapsafectl --runtime-dir "$rt" status --json 2>/dev/null) || rc=$?
	case $rc:$out in 3:*'"daemon":"stopped"'*) ;; *) die "after SIGTERM, status: $rc $out" ;; esac
	log "snapsafed stopped, and its page says so"

	# Purge, then the tree must be what it was.
	mapfile -t pkgs < <(cd "$debdir" && for d in *.deb; do dpkg-deb -f "$d" Package; done)
	run 600 "apt-get purge ${pkgs[*]}" "${in_root[@]}" apt-get purge -y -q "${pkgs[@]}" \
		>"$root/../apt-purge.log" 2>&1 || { cat "$root/../apt-purge.log"; exit 1; }
	for p in "${pkgs[@]}"; do
		# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
		s=$(in_root dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ -z "$s" ] || [ "$s" = not-installed ] || die "$p is still $s after the purge"
	done
	tree >"$root/../tree-after"
	if ! diff -u "$root/../tree-before" "$root/../tree-after" >"$root/../tree.diff"; then
		cat "$root/../tree.diff"
		die "the purge left the tree changed (above: - gone, + left behind)"
	fi
	log "purged: the tree is as before the install ($(wc -l <"$root/../tree-after") paths)"
	exit 0
fi

# ---- outside: build, lint, the base root -------------------------------------------------
src=${1:?usage: deb-test.sh SOURCE_ROOT}
src=$(cd "$src" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI-}" = true ]; then
		die "needs root (chroot, mounts), and CI=true makes a skip a failure"
	fi
	echo "SKIP: needs root (chroot, mounts)"
	exit 77
fi
export LC_ALL=C.UTF-8
version=$(sed -n "s/^[[:space:]]*version : '\([^']*\)',.*/\1/p" "$src/meson.build" | head -n 1)
[ -n "$version" ] || die "no project version in $src/meson.build"

# The build's and the test's packages (tools/deps installs what is missing; apt one at a time).
run 2400 'tools/deps' "$src/tools/deps" dpkg-dev debhelper dh-dkms fakeroot lintian \
	mmdebstrap binutils

# The work folder: one per run, under a parent where runs that died (SIGKILL, a reboot) left
# theirs; those are removed once no run holds their lock. Nothing is mounted in them: the
# mounts live in namespaces that died with their run.
parent=${TMPDIR:-/tmp}/snapsafe-deb-test
mkdir -p "$parent"
for old in "$parent"/run.*; do
	[ -d "$old" ] || continue
	if flock -n "$old.lock" true 2>/dev/null && ! grep -qF " $old/" /proc/self/mountinfo; then
		rm -rf "$old" "$old.lock"
	fi
done
work=$(mktemp -d "$parent/run.XXXXXX")
exec 8>"$work.lock"
flock 8
cleanup() {
	local rc=$?
	if grep -qF " $work/" /proc/self/mountinfo; then
		echo "deb-test: something is still mounted under $work: left in place"
	elif [ "${KEEP-}" = 1 ]; then
		echo "deb-test: KEEP=1: the work folder is $work"
	else
		rm -rf "$work" "$work.lock"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
log "version $version, work folder $work"

# 1. A copy of the sources, built into .debs beside it.
tree=$work/snapsafe-$version
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked files that were deleted in the work tree are not copied.
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -C "$tree" -xf -
else
	# Without git (an unpacked tarball): everything but Meson build folders and Debian's.
	exclude=(--exclude=./.git --exclude='./obj-*' --exclude=./debian/tmp)
	for d in "$src"/*/ "$src"/.*/; do
		[ ! -d "$d/meson-private" ] || exclude+=(--exclude="./$(basename "$d")")
	done
	(cd "$src" && tar "${exclude[@]}" -cf - .) | tar -C "$tree" -xf -
fi
log "copied $(find "$tree" -type f | wc -l) files"
(cd "$tree" && dpkg-checkbuilddeps -Pnocheck) || die "build dependencies missing (above)"
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)"
export DEB_BUILD_OPTIONS
start=$SECONDS
(cd "$tree" && run 1800 'dpkg-buildpackage -us -uc -b' dpkg-buildpackage -us -uc -b \
	>"$work/build.log" 2>&1) || { tail -n 60 "$work/build.log"; exit 1; }
log "dpkg-buildpackage -us -uc -b: $((SECONDS - start)) s"
debs=$work/debs
mkdir "$debs"
for d in "$work"/*.deb; do
	case $d in *-dbgsym_*) ;; *) cp "$d" "$debs/" ;; esac
done
ls -l "$debs"
for p in libsnapsafe0 libsnapsafe-dev snapsafe snapsafe-retrofit snapsafe-dkms; do
	ls "$debs/${p}_$version-"*.deb >/dev/null 2>&1 || die "no $p package was built"
done

# 2. lintian: errors fail, the rest is shown.
changes=$(ls "$work"/snapsafe_*.changes)
rc=0
start=$SECONDS
timeout --kill-after=30 900 lintian --fail-on error --display-info --display-experimental \
	--pedantic "$changes" >"$work/lintian.log" 2>&1 || rc=$?
grep -v 'running with root privileges is not recommended' "$work/lintian.log" || true
[ $rc -eq 0 ] || die "lintian: exit status $rc (errors above)"
log "lintian: $((SECONDS - start)) s; $(grep -c '^E: ' "$work/lintian.log" || true) errors," \
	"$(grep -c '^W: ' "$work/lintian.log" || true) warnings," \
	"$(grep -c '^[IPX]: ' "$work/lintian.log" || true) notes (info, pedantic, experimental)"

# 3. The -dev package on the host: header, pkg-config file, shared and static library. The
# program defines names the library uses inside (log_full, parse_uint): a static link fails
# if the archive exports them.
dev=$work/dev
for p in libsnapsafe0 libsnapsafe-dev; do
	dpkg-deb -x "$debs/${p}_"*.deb "$dev"
done
libdir=$(echo "$dev"/usr/lib/*/pkgconfig/snapsafe.pc)
libdir=${libdir%/pkgconfig/snapsafe.pc}
leaked=$(nm -g --defined-only "$libdir/libsnapsafe.a" | awk 'NF == 3 && $3 !~ /^snapsafe_/')
[ -z "$leaked" ] || die "libsnapsafe.a exports more than snapsafe_*: $leaked"
cat >"$work/client.c" <<'EOF'
#include <stdio.h>
#include <snapsafe/snapsafe.h>
int log_full(void);
int parse_uint(void);
int log_full(void) { return 1; }
int parse_uint(void) { return 2; }
int main(void)
{
	unsigned char b[16];
	snapsafe_random_buf(b, sizeof(b));
	printf("%s %d\n", SNAPSAFE_VERSION_STRING, log_full() + parse_uint());
	return 0;
}
EOF
pc() {
	PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dev" pkg-config "$@"
}
[ "$(pc --modversion snapsafe)" = "$version" ] || die "snapsafe.pc: not version $version"
# shellcheck disable=SC2046
cc -Wall -Werror -o "$work/client-shared" "$work/client.c" $(pc --cflags --libs snapsafe)
# shellcheck disable=SC2046
cc -Wall -Werror -o "$work/client-static" "$work/client.c" $(pc --cflags snapsafe) \
	"$libdir/libsnapsafe.a" $(pc --static --libs-only-other snapsafe)
for c in client-shared client-static; do
	out=$(LD_LIBRARY_PATH=$libdir "$work/$c")
	[ "$out" = "$version 3" ] || die "$c printed '$out', not '$version 3'"
done
if readelf -d "$work/client-static" | grep -q 'libsnapsafe'; then
	die "client-static needs libsnapsafe.so"
fi
log "the -dev package: a client builds against the shared and the static library"

# 4. The base root, cached: the machine's apt sources for its release, and the apt settings
# that make its mirror work (a snapshot mirror needs Check-Valid-Until false, say).
# shellcheck disable=SC1091 # the machine's own
. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
mapfile -t sources < <(python3 "$here/apt-sources.py" "$codename")
[ ${#sources[@]} -gt 0 ] || die "no $codename entries in the machine's apt sources"
aptconf=$work/apt.conf
: >"$aptconf"
for key in Acquire::Check-Valid-Until Acquire::Check-Date Acquire::http::Proxy \
	Acquire::https::Proxy Acquire::ForceIPv4; do
	val=$(apt-config dump --no-empty --format '%v%n' "$key" 2>/dev/null | head -n 1)
	[ -z "$val" ] || printf '%s "%s";\n' "$key" "$val" >>"$aptconf"
done
echo 'Acquire::Retries "3";' >>"$aptconf"
include=dkms,openssl,init-system-helpers,debian-archive-keyring
key=$( { echo "$codename $include"; printf '%s\n' "${sources[@]}"; cat "$aptconf"; } |
	sha256sum | cut -c1-16)
cache=${SNAPSAFE_PKG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapsafe/packaging}
mkdir -p "$cache"
base=$cache/base-$codename-$key.tar
exec 9>"$cache/.lock"
# The tarball is made once, under the exclusive lock, into a temporary name renamed into
# place when complete; readers hold the lock shared while they unpack it.
if ! flock -s -w 1800 9; then die "$cache/.lock still held after 30 min"; fi
if [ ! -s "$base" ]; then
	flock -u 9
	flock -x -w 3600 9 || die "$cache/.lock still held after 60 min"
	if [ ! -s "$base" ]; then
		rm -f "$cache"/.tmp-base-* "$cache"/base-*.tar	# older bases, half-made ones
		log "making the $codename base (mmdebstrap, once): ${sources[*]}"
		# mmdebstrap's own mounts and temporary root stay in a mount namespace and $work.
		TMPDIR=$work run 2400 mmdebstrap unshare --mount --propagation private \
			mmdebstrap --quiet --variant=minbase --include="$include" \
			--skip=cleanup/apt/lists --aptopt="$aptconf" \
			"$codename" "$cache/.tmp-base-$$.tar" "${sources[@]}"
		mv "$cache/.tmp-base-$$.tar" "$base"
	fi
	flock -s 9	# from exclusive to shared, never unlocked in between
fi
root=$work/root
mkdir "$root"
run 600 'unpack the base' tar -C "$root" -xf "$base"
flock -u 9
log "base $(basename "$base"): $(du -sm "$root" | cut -f1) MiB"

# The root's part, in new mount and PID namespaces: nothing it mounts or starts outlives it.
run 1800 'install, run, purge' unshare --mount --propagation private --pid --kill-child \
	"$0" --inner "$root" "$debs" "$version"
log "PASS"
