#!/usr/bin/env bash
# null plugin through our server, read by Debian's nbdinfo and nbdcopy (real peers).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

out=$("$NBDKIT" -U - null 1M --run "$NBDINFO --size \"\$uri\"")
expect_eq "$out" "1048576" "nbdinfo --size"

"$NBDKIT" -U - null size=64K --run "$NBDCOPY \"\$uri\" $T/out.img"
cmp "$T/out.img" <(head -c 65536 /dev/zero) || fail "null export did not read as zeroes"

# Negative: a bad size is one line naming the parameter, exit status 1.
expect_fail_line 1 "size=1Q" "$NBDKIT" -U - null 1Q --run true
pass
