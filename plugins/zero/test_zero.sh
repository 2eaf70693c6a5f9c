#!/usr/bin/env bash
# zero plugin through our server: an empty read-only export, as Debian's nbdinfo sees it.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

out=$("$NBDKIT" -U - zero --run "$NBDINFO --size \"\$uri\"")
expect_eq "$out" "0" "nbdinfo --size"
info=$("$NBDKIT" -U - zero --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "is_read_only: true" "zero export flags"
ref=$("$REF_NBDKIT" -U - zero --run "$NBDINFO \"\$uri\"" | grep -E 'is_read_only|can_multi_conn|export-size')
ours=$(printf '%s\n' "$info" | grep -E 'is_read_only|can_multi_conn|export-size')
expect_eq "$ours" "$ref" "flags compared with Debian's zero plugin"

# Negative: any parameter is refused in one line.
expect_fail_line 1 "no parameters" "$NBDKIT" -U - zero size=1M --run true
pass
