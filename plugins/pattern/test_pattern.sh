#!/usr/bin/env bash
# pattern plugin through our server: byte-identical to Debian's pattern plugin for several
# sizes (including a truncated last word) and at the far end of the largest disk.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

for size in 1M 1000001 7; do
  "$NBDKIT" -U - pattern $size --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "pattern $size: read failed"
  "$REF_NBDKIT" -U - pattern $size --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference pattern $size failed"
  cmp "$T/ours.img" "$T/ref.img" || fail "pattern $size differs from Debian's"
done

probe='import sys; sys.stdout.write(h.pread(29, h.get_size() - 29).hex())'
ours=$("$NBDKIT" -U - pattern 9223372036854775807 --run "$NBDSH -u \"\$uri\" -c '$probe'")
ref=$("$REF_NBDKIT" -U - pattern 9223372036854775807 --run "$NBDSH -u \"\$uri\" -c '$probe'")
expect_eq "$ours" "$ref" "last bytes of the largest pattern disk"

# Negative: the export is read-only, and a bad size is refused. (Like Debian's, a missing size
# means an empty disk, although upstream's manual calls it required.)
# qemu-io opens read-write and is refused: the export is read-only.
out=$("$NBDKIT" -U - pattern 1M --run "qemu-io -f raw \"\$uri\" -c 'write 0 512'" 2>&1) &&
  fail "qemu-io could write to the pattern disk"
expect_contains "$out" "Permission denied" "writing to the pattern disk"
expect_fail_line 1 "size=1Q" "$NBDKIT" -U - pattern 1Q --run true
pass
