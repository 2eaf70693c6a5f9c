#!/usr/bin/env bash
# truncate filter through our server, checked with Debian's nbdcopy/nbdinfo/nbdsh and compared
# with Debian's nbdkit running the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo nbdcopy nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# Growing and shrinking the pattern plugin: same bytes as upstream.
for args in "round-up=512" "truncate=70000" "truncate=999" "round-down=512" "truncate=3000 round-up=4K"; do
  "$NBDKIT" -U - --filter=truncate pattern 1000 $args --run "$REF_NBDCOPY \"\$uri\" $T/ours.img" ||
    fail "our truncate $args failed"
  "$REF_NBDKIT" -U - --filter=truncate pattern 1000 $args --run "$REF_NBDCOPY \"\$uri\" $T/ref.img" ||
    fail "reference truncate $args failed"
  cmp "$T/ours.img" "$T/ref.img" || fail "truncate $args differs from upstream"
done
expect_eq "$(stat -c %s "$T/ours.img")" 4096 "truncate=3000 round-up=4K size"

# Past the plugin's end: zeroes read back, zero writes succeed, other writes fail with ENOSPC
# and leave the file alone; the map shows the added space as a hole, like upstream's.
head -c 1000 /dev/urandom > "$T/disk.img"
cp "$T/disk.img" "$T/orig.img"
"$NBDKIT" -U - --filter=truncate file "$T/disk.img" round-up=4K --run "$REF_NBDSH -u \"\$uri\" -c '
assert h.get_size() == 4096
assert h.pread(96, 1000) == bytes(96)
h.pwrite(bytes(100), 2000)
h.zero(100, 3000)
try:
    h.pwrite(b\"x\" * 30, 990)
    raise SystemExit(\"non-zero write past the end succeeded\")
except nbd.Error as e:
    assert e.errnum == errno.ENOSPC, e
'" || fail "nbdsh checks past the end"
cmp "$T/disk.img" "$T/orig.img" || fail "the refused write changed the file"
ours=$("$NBDKIT" -U - --filter=truncate file "$T/disk.img" truncate=64K --run "$REF_NBDINFO --map \"\$uri\"")
ref=$("$REF_NBDKIT" -U - --filter=truncate file "$T/disk.img" truncate=64K --run "$REF_NBDINFO --map \"\$uri\"")
expect_eq "$ours" "$ref" "nbdinfo --map through truncate"

# Negative: round-up must be a power of 2.
expect_fail_line 1 "round-up=3" "$NBDKIT" -U - --filter=truncate pattern 1000 round-up=3 --run true
pass
