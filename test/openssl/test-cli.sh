#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The provider in the openssl command, by configuration alone:
#   - `openssl list -providers` and `-random-generators` show it loaded and SNAPSAFE offered;
#   - `openssl rand -hex 32` is served by libsnapsafe: the probe build reports one
#     snapsafe_getrandom() call of 32 bytes, with the engine seeded for it under
#     SNAPSAFE_ENGINE=always and not under never; without the configuration the probe is
#     never loaded (the negative control of that check);
#   - with the kernel refusing random bytes (refuse-kernel), `openssl rand` fails, prints
#     nothing on stdout and names the provider's reason; without the provider the same
#     refusal gives OpenSSL's own error instead, so the reason can only come from it;
#   - the drop-in included at the end of the system's openssl.cnf turns it on as well.
#
# Usage: test-cli.sh OPENSSL REFUSE_KERNEL RELEASE_DIR PROBE_DIR CONF_BUILD_DIR CONF_SRC_DIR
#   OPENSSL may be a command line ("LOADER --library-path DIR PROGRAM"): test-openssl35.sh
#   runs this script with Debian 13's OpenSSL 3.5 that way. Set SNAPSAFE_OSSL_CONF to use
#   another complete configuration than openssl-snapsafe.cnf, SNAPSAFE_OSSL_SECTIONS another
#   drop-in, SNAPSAFE_OSSL_SYSTEM_CONF another system openssl.cnf; SNAPSAFE_OSSL_RANDOM_PROVIDER=1
#   when the configuration selects the random_provider path (OpenSSL 3.5+): the probe must
#   then see each request arrive there, and otherwise never. SNAPSAFE_OSSL_PRELOAD: libraries
#   the openssl command needs preloaded to load the modules (the sanitizer runtimes, when the
#   modules are built with ASan and UBSan: an uninstrumented program cannot load them else).
set -euo pipefail

[ $# -eq 6 ] || { echo "usage: test-cli.sh OPENSSL REFUSE_KERNEL RELEASE_DIR PROBE_DIR" \
		  "CONF_BUILD_DIR CONF_SRC_DIR" >&2; exit 2; }
read -r -a openssl <<<"$1"
refuse=$2 release=$3 probe=$4 conf_build=$5 conf_src=$6
conf=$conf_build/${SNAPSAFE_OSSL_CONF:-openssl-snapsafe.cnf}
sections=$conf_src/${SNAPSAFE_OSSL_SECTIONS:-openssl-snapsafe-sections.cnf}
system_conf=${SNAPSAFE_OSSL_SYSTEM_CONF:-/etc/ssl/openssl.cnf}
reason='the kernel refused random bytes'
via_random_provider=${SNAPSAFE_OSSL_RANDOM_PROVIDER:-0}
preload=${SNAPSAFE_OSSL_PRELOAD:-}
export OPENSSL_CONF_INCLUDE=$conf_src

command -v "${openssl[0]}" >/dev/null ||
	{ echo "FAIL: no ${openssl[0]} command (apt-get install openssl)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snapsafe-ossl-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }
step() { echo "== $*" >&2; }

# ossl MODULES_DIR CONF [ENV=VALUE...] -- ARGS...: the openssl command, its stdout on stdout.
ossl() {
	local modules=$1 cnf=$2; shift 2
	local vars=()
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	env OPENSSL_MODULES="$modules" OPENSSL_CONF="$cnf" ${preload:+LD_PRELOAD="$preload"} \
		${vars[@]+"${vars[@]}"} $wrap "${openssl[@]}" "$@"
}
wrap=''
# refused MODULES_DIR CONF -- ARGS...: the same, with the kernel refusing random bytes.
refused() { wrap=$refuse ossl "$@"; }

step "$("${openssl[@]}" version)${preload:+, with $preload preloaded}"
# An empty configuration: OpenSSL's defaults, nothing of the system's file or of ours.
: >"$tmp/empty.cnf"

step "the provider is loaded and offers SNAPSAFE"
out=$(ossl "$release" "$conf" -- list -providers 2>&1) || fail "openssl list -providers: $out"
grep -A3 '^  snapsafe$' <<<"$out" | grep -q 'status: active' ||
	fail "openssl list -providers does not show snapsafe active:"$'\n'"$out"
out=$(ossl "$release" "$conf" -- list -random-generators 2>&1) || true
grep -q 'SNAPSAFE @ snapsafe' <<<"$out" ||
	fail "openssl list -random-generators does not offer SNAPSAFE @ snapsafe:"$'\n'"$out"
out=$(ossl "$release" "$tmp/empty.cnf" -- list -random-generators 2>&1) || true
grep -q SNAPSAFE <<<"$out" && fail "SNAPSAFE is offered without the configuration"

step "openssl rand -hex 32 is served by libsnapsafe"
a=$(ossl "$release" "$conf" -- rand -hex 32) || fail "openssl rand failed with the provider"
b=$(ossl "$release" "$conf" -- rand -hex 32) || fail "openssl rand failed with the provider"
[[ $a =~ ^[0-9a-f]{64}$ && $b =~ ^[0-9a-f]{64}$ && $a != "$b" ]] ||
	fail "openssl rand -hex 32 printed '$a' and '$b'"
for engine in always never; do
	report=$tmp/report-$engine
	rm -f "$report"
	out=$(ossl "$probe" "$conf" SNAPSAFE_ENGINE=$engine SNAPSAFE_PROVIDER_PROBE_REPORT="$report" \
		-- rand -hex 32) || fail "openssl rand failed with the probe ($engine)"
	[[ $out =~ ^[0-9a-f]{64}$ ]] || fail "openssl rand with the probe printed '$out'"
	got=$(cat "$report" 2>/dev/null) || { fail "the probe wrote no report ($engine)"; continue; }
	echo "   SNAPSAFE_ENGINE=$engine: $got" >&2
	want_seeds=$([ $engine = always ] && echo 1 || echo 0)
	want="calls=1 flagged=0 bytes=32 failures=0 random_provider=$via_random_provider"
	[ "$got" = "$want reseeds=$want_seeds" ] ||
		fail "SNAPSAFE_ENGINE=$engine: the probe says '$got', not '$want reseeds=$want_seeds'"
done
rm -f "$tmp/report-control"
ossl "$probe" "$tmp/empty.cnf" SNAPSAFE_PROVIDER_PROBE_REPORT="$tmp/report-control" \
	-- rand -hex 32 >/dev/null || fail "openssl rand failed without the provider"
[ ! -e "$tmp/report-control" ] || fail "the probe was loaded without the configuration"

step "a kernel that refuses random bytes is an error, never output"
set +e
out=$(refused "$release" "$conf" -- rand -hex 32 2>"$tmp/err")
status=$?
set -e
case $status in
77) echo "SKIP: $(cat "$tmp/err")" >&2; exit 77;;
99) fail "the refusal does not hold: $(cat "$tmp/err")";;
0) fail "openssl rand succeeded with the kernel refusing: '$out'";;
esac
[ -z "$out" ] || fail "openssl rand printed '$out' with the kernel refusing"
grep -q "$reason" "$tmp/err" ||
	fail "openssl rand's error does not name '$reason':"$'\n'"$(cat "$tmp/err")"
sed 's/^/   /' "$tmp/err" >&2
set +e
out=$(refused "$release" "$tmp/empty.cnf" -- rand -hex 32 2>"$tmp/err")
status=$?
set -e
[ "$status" -ne 0 ] || fail "control: OpenSSL's own generator served with the kernel refusing"
grep -q "$reason" "$tmp/err" && fail "control: the reason appears without the provider"

step "the drop-in at the end of the system configuration ($system_conf)"
if [ -r "$system_conf" ]; then
	{ cat "$system_conf"; echo; echo ".include $sections"; } >"$tmp/system.cnf"
	report=$tmp/report-system
	out=$(ossl "$probe" "$tmp/system.cnf" SNAPSAFE_PROVIDER_PROBE_REPORT="$report" \
		-- rand -hex 32 2>&1) || fail "openssl rand with the drop-in: $out"
	grep -q "calls=1 flagged=0 bytes=32 failures=0 random_provider=$via_random_provider" \
		"$report" 2>/dev/null ||
		fail "with the drop-in, the probe says '$(cat "$report" 2>/dev/null)'"
	out=$(ossl "$release" "$tmp/system.cnf" -- list -providers 2>&1) || true
	grep -A3 '^  default$' <<<"$out" | grep -q 'status: active' ||
		fail "with the drop-in, the default provider is not active:"$'\n'"$out"
else
	fail "no $system_conf to include the drop-in from (the openssl package installs it)"
fi

[ "$failed" -eq 0 ] || exit 1
echo "ok" >&2
