#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetch Debian 13's OpenSSL (3.5) and the C library it was built for into a cached root
# (test/helpers/fetch-debian-root.sh: a private apt setup, nothing installed). Programs there
# run through that root's own loader:
#   LIB=ROOT/usr/lib/x86_64-linux-gnu; $LIB/ld-linux-x86-64.so.2 --library-path $LIB PROGRAM ...
# Prints ROOT. The root is kept only if its openssl runs and says 3.5 or later.
set -euo pipefail

here=$(dirname "$0")
check='lib=$ROOT/usr/lib/x86_64-linux-gnu
v=$("$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$ROOT/usr/bin/openssl" version 2>&1) &&
[[ $v =~ ^OpenSSL\ 3\.([5-9]|[1-9][0-9]) ]] || { echo "$v"; exit 1; }'
exec "$here/../helpers/fetch-debian-root.sh" --suites trixie --check "$check" openssl-3.5 \
	openssl libssl3t64 libc6 libzstd1 zlib1g
