#!/usr/bin/env bash
# iso plugin through our server: the served image is read with isoinfo and xorriso, and its
# file list matches what Debian's nbdkit iso plugin makes of the same directories.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer isoinfo xorriso genisoimage nbdkit

mkdir -p "$T/d1/sub" "$T/d2"
echo "hello nbd" > "$T/d1/hello.txt"
head -c 300000 /dev/urandom > "$T/d1/sub/blob.bin"
echo "second dir" > "$T/d2/second.txt"
export TMPDIR=$T

"$NBDKIT" -U - iso "$T/d1" dir="$T/d2" params="-J -r -V NBDISO" --run "$NBDCOPY \"\$uri\" $T/ours.iso" \
  || fail "nbdcopy from our iso server failed"
expect_eq "$(isoinfo -R -f -i $T/ours.iso | sort | tr '\n' ' ')" "/hello.txt /second.txt /sub /sub/blob.bin " "isoinfo -f"
isoinfo -R -i "$T/ours.iso" -x /sub/blob.bin | cmp - "$T/d1/sub/blob.bin" || fail "blob.bin differs inside the ISO"
expect_contains "$(isoinfo -d -i $T/ours.iso)" "Volume id: NBDISO" "volume id"
xorriso -indev "$T/ours.iso" -find / -type f 2>/dev/null | sort > "$T/ours.list"

"$REF_NBDKIT" -U - iso "$T/d1" dir="$T/d2" params="-J -r -V NBDISO" --run "$NBDCOPY \"\$uri\" $T/ref.iso" 2>/dev/null
xorriso -indev "$T/ref.iso" -find / -type f 2>/dev/null | sort > "$T/ref.list"
cmp "$T/ours.list" "$T/ref.list" || fail "file list differs from Debian's nbdkit: $(diff $T/ours.list $T/ref.list)"

# genisoimage works too, and the server is read-only.
out=$("$NBDKIT" -U - iso "$T/d2" prog=genisoimage --run "$NBDINFO \"\$uri\"")
expect_contains "$out" "is_read_only: true" "nbdinfo"
[ -z "$(ls $T | grep nbdkitiso)" ] || fail "temporary ISO left behind in TMPDIR"

# Negative: a failing program is a one-line startup error.
expect_fail_line 1 "false: command failed" "$NBDKIT" -U - iso "$T/d1" prog=false --run true
pass
