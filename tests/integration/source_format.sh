#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every tracked C/C++ source is formatted as .clang-format says (scripts/check-format.sh),
# and the check does catch a file that is not.
source "$NBD_SRC/tests/lib.sh"
command -v clang-format >/dev/null || fail "clang-format is not installed (scripts/install-deps.sh)"
git -C "$NBD_SRC" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout: no list of tracked files"
bash "$NBD_SRC/scripts/check-format.sh" 2>"$T/err" || fail "$(cat "$T/err")"

# Negative: one badly spaced file is named, a formatted one passes.
printf 'int  main( ) {return 0;}\n' >"$T/bad.cc"
printf 'int main() { return 0; }\n' >"$T/good.cc"
bash "$NBD_SRC/scripts/check-format.sh" "$T/good.cc" || fail "a formatted file was refused"
bash "$NBD_SRC/scripts/check-format.sh" "$T/good.cc" "$T/bad.cc" 2>"$T/err" && fail "an unformatted file passed"
grep -q "not formatted.*: $T/bad.cc" "$T/err" || fail "the unformatted file is not named: $(cat "$T/err")"
grep -q "good.cc" "$T/err" && fail "the formatted file was named: $(cat "$T/err")"
echo "sources formatted; the check names an unformatted file"
