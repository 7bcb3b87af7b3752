#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The provider, built against this machine's OpenSSL 3.0 headers, loaded into Debian 13's
# OpenSSL 3.5 (fetched once into a cache by fetch-openssl35.sh, run through its own loader)
# with the 3.5 configuration, whose random_provider line hands RAND_bytes() and
# RAND_priv_bytes() to the provider without OpenSSL's DRBG layer:
#   - test-cli.sh with that openssl: loaded, offered, `openssl rand` served through the
#     random_provider entry (the probe counts it), the refusing kernel an error with the
#     provider's reason, the drop-in at the end of Debian 13's own openssl.cnf;
#   - test-provider (a C program) against 3.5's libcrypto, release and probe builds.
# A download that fails is a failure that says why, never a skip: the test exists to run.
#
# Usage: test-openssl35.sh FETCH TEST_CLI TEST_PROVIDER REFUSE_KERNEL RELEASE_DIR PROBE_DIR \
#                          CONF_BUILD_DIR CONF_SRC_DIR
set -euo pipefail

fetch=$1 test_cli=$2 test_provider=$3 refuse=$4 release=$5 probe=$6 conf_build=$7 conf_src=$8

root=$("$fetch") || { echo "FAIL: could not fetch Debian 13's OpenSSL 3.5 (see above)" >&2
		     exit 1; }
lib=$root/usr/lib/x86_64-linux-gnu
loader="$lib/ld-linux-x86-64.so.2 --library-path $lib"
status=0

# With the sanitizer runtimes preloaded into the uninstrumented openssl command, LeakSanitizer
# would report the loader's own allocations (run as a program, it keeps copies of its
# arguments): leaks are not looked for in that command, only in the C program below.
cli_asan=${ASAN_OPTIONS:-}
[ -z "${SNAPSAFE_OSSL_PRELOAD:-}" ] || cli_asan="${cli_asan:+$cli_asan:}detect_leaks=0"

echo "== test-cli.sh with $("$lib/ld-linux-x86-64.so.2" --library-path "$lib" \
	"$root/usr/bin/openssl" version)" >&2
SNAPSAFE_OSSL_CONF=openssl-snapsafe-3.5.cnf \
SNAPSAFE_OSSL_SECTIONS=openssl-snapsafe-3.5-sections.cnf \
SNAPSAFE_OSSL_SYSTEM_CONF=$root/etc/ssl/openssl.cnf SNAPSAFE_OSSL_RANDOM_PROVIDER=1 \
ASAN_OPTIONS=$cli_asan "$test_cli" "$loader $root/usr/bin/openssl" "$refuse" "$release" \
	"$probe" "$conf_build" "$conf_src" || status=1

for t in "release $release always" "probe $probe always" "probe $probe never" \
	 "control $probe always" "generation $probe always"; do
	read -r what dir engine <<<"$t"
	echo "== test-provider $what (SNAPSAFE_ENGINE=$engine) on OpenSSL 3.5" >&2
	# shellcheck disable=SC2086 # the loader's command line is split on purpose
	OPENSSL_MODULES=$dir OPENSSL_CONF=$conf_build/openssl-snapsafe-3.5.cnf \
	OPENSSL_CONF_INCLUDE=$conf_src SNAPSAFE_ENGINE=$engine SNAPSAFE_OSSL_RANDOM_PROVIDER=1 \
		$loader "$test_provider" "$what" || status=1
done
exit $status
