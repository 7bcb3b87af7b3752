#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# reuse-lint.sh SOURCE_ROOT: the tree follows the REUSE layout: every file has its copyright
# and licence, from its SPDX line or .reuse/dep5, and LICENSES/ holds exactly the licences used.
# Installs the reuse tool with tools/deps when missing (as root); skips (77) when it cannot.
set -eu
src=$1
if ! command -v reuse >/dev/null 2>&1; then
	if ! "$src/tools/deps" reuse || ! command -v reuse >/dev/null 2>&1; then
		echo "SKIP: the reuse tool is not installed"
		exit 77
	fi
fi
cd "$src"
exec reuse lint
