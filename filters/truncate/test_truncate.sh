#!/usr/bin/env bash
# truncate filter through our server, checked with Debian's nbdcopy/nbdinfo/nbdsh and compared
# with Debian's nbdkit running the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# Growing and shrinking the pattern plugin: same bytes as upstream.
for args in "round-up=512" "truncate=70000" "truncate=999" "round-down=512"; do
  "$NBDKIT" -U - --filter=truncate pattern 1000 $args --run "$NBDCOPY \"\$uri\" $T/ours.img" ||
    fail "our truncate $args failed"
  "$REF_NBDKIT" -U - --filter=truncate pattern 1000 $args --run "$NBDCOPY \"\$uri\" $T/ref.img" ||
    fail "reference truncate $args failed"
  cmp "$T/ours.img" "$T/ref.img" || fail "truncate $args differs from upstream"
done
expect_eq "$(stat -c %s "$T/ours.img")" 512 "round-down=512 size"
# (Debian's nbdkit 1.32 aborts on "truncate=3000 round-up=4K" over pattern, so that one is
# checked by size and content alone.)
"$NBDKIT" -U - --filter=truncate pattern 1000 truncate=3000 round-up=4K --run "$NBDCOPY \"\$uri\" $T/ours.img"
"$REF_NBDKIT" -U - pattern 1000 --run "$NBDCOPY \"\$uri\" $T/want.img" || fail "reference pattern"
truncate -s 4096 "$T/want.img"
cmp "$T/ours.img" "$T/want.img" || fail "truncate=3000 round-up=4K: not the pattern followed by zeroes"

# Past the plugin's end: zeroes read back, zero writes succeed, other writes fail with ENOSPC
# and change nothing; the map shows the added space as a hole, like upstream's.
check='
import errno
h.pwrite(b"\x01" * 1000, 0)
assert h.get_size() == 4096
assert h.pread(96, 1000) == bytes(96)
h.pwrite(bytes(100), 2000)
h.zero(100, 3000)
try:
    h.pwrite(b"x" * 30, 990)
    raise SystemExit("non-zero write past the end succeeded")
except nbd.Error as e:
    assert e.errnum == errno.ENOSPC, e
assert h.pread(1000, 0) == b"\x01" * 1000, "the refused write changed the disk"
'
"$NBDKIT" -U - --filter=truncate memory 1000 round-up=4K --run "$NBDSH -u \"\$uri\" -c '$check'" ||
  fail "nbdsh checks past the end"
mapping() { "$1" -U - --filter=truncate memory 40000 truncate=200K --run "
  $NBDSH -u \"\$uri\" -c 'h.pwrite(b\"y\" * 4096, 32768)' && $NBDINFO --map \"\$uri\""; }
ours=$(mapping "$NBDKIT") || fail "our map session"
ref=$(mapping "$REF_NBDKIT") || fail "reference map session"
expect_eq "$ours" "$ref" "nbdinfo --map through truncate"
expect_contains "$ours" "hole" "the added space is a hole"

# Negative: round-up must be a power of 2.
expect_fail_line 1 "round-up=3" "$NBDKIT" -U - --filter=truncate pattern 1000 round-up=3 --run true
pass
