#!/usr/bin/env bash
# offset filter through our server, checked with Debian's nbdcopy/nbdinfo/nbdsh and compared
# with Debian's nbdkit running the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo nbdcopy nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# Content and size of a window of the pattern plugin, byte for byte as upstream serves it.
"$NBDKIT" -U - --filter=offset pattern 1M offset=4097 range=64K \
  --run "$REF_NBDCOPY \"\$uri\" $T/ours.img" || fail "our offset stack failed"
"$REF_NBDKIT" -U - --filter=offset pattern 1M offset=4097 range=64K \
  --run "$REF_NBDCOPY \"\$uri\" $T/ref.img" || fail "reference offset stack failed"
expect_eq "$(stat -c %s "$T/ours.img")" 65536 "window size"
cmp "$T/ours.img" "$T/ref.img" || fail "offset window differs from upstream's"

# Writes land shifted in the file below; extents are shifted back (compare --map with upstream).
truncate -s 1M "$T/disk.img"
"$NBDKIT" -U - --filter=offset file "$T/disk.img" offset=512K --run \
  "$REF_NBDSH -u \"\$uri\" -c 'h.pwrite(b\"window\" * 1000, 65536)'" || fail "write through offset"
expect_eq "$(dd if="$T/disk.img" bs=1 skip=$((512 * 1024 + 65536)) count=6 status=none)" "window" "shifted write"
ours=$("$NBDKIT" -U - --filter=offset file "$T/disk.img" offset=256K range=512K --run "$REF_NBDINFO --map \"\$uri\"")
ref=$("$REF_NBDKIT" -U - --filter=offset file "$T/disk.img" offset=256K range=512K --run "$REF_NBDINFO --map \"\$uri\"")
expect_eq "$ours" "$ref" "nbdinfo --map through offset"
expect_contains "$ours" "data" "map has the written data"

# Negative: a window past the plugin's end serves nothing; the client's connect fails.
if "$NBDKIT" -U - --filter=offset pattern 1M offset=1M range=1 --run "$REF_NBDINFO --size \"\$uri\"" 2>"$T/err"; then
  fail "a window past the end was served"
fi
grep -q "offset+range (1048576+1) is larger than the real size" "$T/err" || fail "error does not name offset+range: $(cat "$T/err")"
pass
