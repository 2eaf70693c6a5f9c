#!/usr/bin/env bash
# offset filter through our server, checked with Debian's nbdcopy/nbdinfo/nbdsh and compared
# with Debian's nbdkit running the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# Content and size of a window of the pattern plugin, byte for byte as upstream serves it.
"$NBDKIT" -U - --filter=offset pattern 1M offset=4097 range=64K \
  --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "our offset stack failed"
"$REF_NBDKIT" -U - --filter=offset pattern 1M offset=4097 range=64K \
  --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference offset stack failed"
expect_eq "$(stat -c %s "$T/ours.img")" 65536 "window size"
cmp "$T/ours.img" "$T/ref.img" || fail "offset window differs from upstream's"

# Writes land shifted in the disk below; extents are shifted back. The same session writes
# through the window, then reads the whole disk and maps the window, on both servers.
map_of() {  # map_of SERVER: write through offset=512K, then print the disk around it and the map
  "$1" -U - --filter=offset memory 1M offset=512K --run "
    $NBDSH -u \"\$uri\" -c 'h.pwrite(b\"window\" * 1000, 65536)' &&
    $NBDSH -u \"\$uri\" -c 'print(h.pread(8, 65534))' &&
    $NBDINFO --map \"\$uri\""
}
ours=$(map_of "$NBDKIT") || fail "our offset write session failed"
ref=$(map_of "$REF_NBDKIT") || fail "reference offset write session failed"
expect_eq "$ours" "$ref" "bytes and nbdinfo --map through offset"
expect_contains "$ours" "bytearray(b'\\x00\\x00window')" "write landed at the window's offset"
expect_contains "$ours" "data" "map has the written data"

# Negative: a window past the plugin's end serves nothing; the client's connect fails.
if "$NBDKIT" -U - --filter=offset pattern 1M offset=1M range=1 --run "$NBDINFO --size \"\$uri\"" 2>"$T/err"; then
  fail "a window past the end was served"
fi
grep -q "offset+range (1048576+1) is larger than the real size" "$T/err" || fail "error does not name offset+range: $(cat "$T/err")"
pass
