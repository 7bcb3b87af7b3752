#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shell completion of snapsafectl against the program itself: the bash completion offers
# exactly the subcommands and global options that `snapsafectl --help` lists, each
# subcommand's own options as `snapsafectl SUBCOMMAND --help` names them, and directories
# (not files) after --runtime-dir, in a plain `bash --norc` (no bash-completion package).
# The zsh completion lists the same subcommands and parses (`zsh -n`) when zsh is there.
# Usage: test-completion.sh SNAPSAFECTL BASH-COMPLETION ZSH-COMPLETION
set -eu

ctl=$1 bash_file=$2 zsh_file=$3
fails=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# complete WORD... : what the completion offers for the command line WORD... (the last word
# is the one being completed), sorted, one line.
complete_words() {
	bash --norc --noprofile -c '
		source "$1"; shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_snapsafectl
		printf "%s\n" "${COMPREPLY[@]}"' complete "$bash_file" "$@" | sort | tr '\n' ' ' |
		sed 's/ $//'
}

expect() {
	local want=$1 got
	shift
	got=$(complete_words "$@")
	[ "$got" = "$want" ] || fail "completing '$*': got '$got', expected '$want'"
}

sorted() {
	tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

help=$("$ctl" --help)
# The subcommands: the indented lines between "Subcommands:" and the blank line after them.
subcommands=$(printf '%s\n' "$help" | sed -n '/^Subcommands:/,/^$/{/^  [a-z]/{s/^  \([a-z-]*\).*/\1/;p}}' |
	sorted)
[ -n "$subcommands" ] || fail "no subcommands in snapsafectl --help"
# The global options: every --option in the "Options" section, and -V's --version.
globals=$(printf '%s\n' "$help" | sed -n '/^Options/,/^$/p' | grep -o -- '--[a-z-]*\(=[a-z]*\)\?' |
	sort -u | sorted)

expect "$subcommands" snapsafectl ''
expect "$globals" snapsafectl --
expect "$(printf 'watch watchers wait-watchers' | sorted)" snapsafectl wa
expect "wait-watchers" snapsafectl --runtime-dir /run/snapsafe --json wait-w

# Each subcommand: its own options (from its --help) and the global ones but -V/--version,
# which stands alone.
for sub in $subcommands; do
	own=$("$ctl" "$sub" --help | head -n 1 | sed "s/.* $sub//" | grep -o -- '--[a-z-]*' || true)
	want=$(printf '%s %s' "$own" "$(printf '%s' "$globals" | sed 's/--version//')" | sorted)
	expect "$want" snapsafectl "$sub" --
	expect "$want" snapsafectl --json "$sub" --
done
expect "--min-gen" snapsafectl trigger --mi
expect "pretty" snapsafectl --json = ''
expect "" snapsafectl trigger --min-gen ''

# Directories, and only directories, after --runtime-dir (also as --runtime-dir=DIR).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/rt-a" "$tmp/rt-b"
touch "$tmp/rt-file"
expect "$tmp/rt-a $tmp/rt-b" snapsafectl --runtime-dir "$tmp/rt-"
expect "$tmp/rt-a $tmp/rt-b" snapsafectl status --runtime-dir = "$tmp/rt-"
# After the directory, the subcommands again.
expect "$subcommands" snapsafectl --runtime-dir "$tmp/rt-a" ''

# zsh: the same subcommands, and a file that parses.
zsh_subcommands=$(sed -n "s/^[[:space:]]*'\([a-z-]*\):.*/\1/p" "$zsh_file" | sorted)
[ "$zsh_subcommands" = "$subcommands" ] ||
	fail "zsh completion lists '$zsh_subcommands', snapsafectl --help '$subcommands'"
if command -v zsh >/dev/null; then
	zsh -n "$zsh_file" || fail "zsh -n $zsh_file"
else
	echo "zsh not installed: its completion is not parsed" >&2
fi

if [ "$fails" -gt 0 ]; then
	echo "$fails failure(s)" >&2
	exit 1
fi
echo "ok: $(echo "$subcommands" | wc -w) subcommands"
