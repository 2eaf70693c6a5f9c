#!/usr/bin/env bash
# xz filter through our server over the file plugin, on files made by the real xz: the whole
# image (checksum) and dumps across block boundaries equal the original, for 1 MiB blocks,
# -T2 and two concatenated streams with padding; Debian's nbdkit --filter=xz serves the same
# bytes; qemu-img compares it with the original; a big single-block file, a corrupt block, a
# truncated file, a too small xz-max-block and bad parameters fail with clear messages.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbddump nbdinfo
require_peer xz qemu-img nbdkit

# 6 MiB + a bit of compressible but not trivial data: pattern, random, zeros, text.
raw=$T/disk.raw
"$NBDKIT" -U - pattern 3M --run "$NBDCOPY \"\$uri\" $T/pattern" || fail "pattern"
{ cat "$T/pattern"; head -c 1M /dev/urandom; head -c 2M /dev/zero; seq 1 1000 | head -c 4568; } >"$raw"
size=$(stat -c %s "$raw")
sum=$(sha256sum <"$raw" | cut -d' ' -f1)

xz -T1 --block-size=1MiB -c "$raw" >"$T/b1m.xz"
xz -1 -T2 -c "$raw" >"$T/t2.xz"  # xz's own blocks: 3 MiB at -1
head -c 2500000 "$raw" | xz -T1 --block-size=1MiB -c >"$T/multi.xz"
head -c 8 /dev/zero >>"$T/multi.xz"  # stream padding between the streams
tail -c +2500001 "$raw" | xz -T1 --block-size=512KiB --check=crc32 -c >>"$T/multi.xz"
expect_eq "$(xz --robot -l "$T/multi.xz" | awk '/^totals/ {print $2, $3}')" "2 11" "multi.xz: streams and blocks"
expect_eq "$(xz --robot -l "$T/t2.xz" | awk '/^totals/ {print $3}')" "3" "t2.xz: blocks"

dump_at() {  # SERVER FILE OFFSET LENGTH: our nbddump of that range through SERVER's xz filter
  "$1" -U - --filter=xz file "$2" --run "$NBDDUMP --offset=$3 --length=$4 \"\$uri\""
}
for f in b1m t2 multi; do
  x=$T/$f.xz
  got=$("$NBDKIT" -U - --filter=xz file "$x" --run "$NBDCOPY \"\$uri\" - | sha256sum" | cut -d' ' -f1)
  expect_eq "$got" "$sum" "$f.xz: checksum of the whole image"
  expect_eq "$("$NBDKIT" -U - --filter=xz file "$x" --run "$NBDINFO --size \"\$uri\"")" "$size" "$f.xz: size"
  ref=$("$REF_NBDKIT" -U - --filter=xz file "$x" --run "$NBDCOPY \"\$uri\" - | sha256sum" | cut -d' ' -f1)
  expect_eq "$ref" "$sum" "$f.xz: checksum through Debian's nbdkit"
  # Across 512K, 1M and 3M block boundaries and the streams' join at 2500000, and the last byte.
  for at in 0 524200 1048000 2499990 3145700 4194303 $((size - 40)); do
    ours=$(dump_at "$NBDKIT" "$x" $at 200)
    theirs=$(dump_at "$REF_NBDKIT" "$x" $at 200)
    want=$("$NBDKIT" -U - file "$raw" --run "$NBDDUMP --offset=$at --length=200 \"\$uri\"")
    [ -n "$want" ] || fail "no dump of the original at $at"
    expect_eq "$ours" "$want" "$f.xz: dump at $at"
    expect_eq "$theirs" "$want" "$f.xz: Debian's dump at $at"
  done
done
"$NBDKIT" -U - --filter=xz file "$T/b1m.xz" --run "qemu-img compare -f raw -F raw \"$raw\" \"\$uri\"" >/dev/null ||
  fail "qemu-img compare: the image differs from the original"
# Negative of the comparison itself: one changed byte is seen.
cp "$raw" "$T/changed.raw" && printf 'X' | dd of="$T/changed.raw" bs=1 seek=3000000 conv=notrunc status=none
if "$NBDKIT" -U - --filter=xz file "$T/b1m.xz" --run "qemu-img compare -f raw -F raw \"$T/changed.raw\" \"\$uri\"" \
  >/dev/null 2>&1; then
  fail "qemu-img compare found no difference with a changed byte"
fi
info=$("$NBDKIT" -U - --filter=xz file "$T/b1m.xz" --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "is_read_only: true" "the export is read-only"
expect_contains "$("$NBDKIT" -U - --filter=xz file "$T/b1m.xz" --run "$NBDINFO --map \"\$uri\"")" \
  "0     $size    0  data" "extents: all data"

# serve_error FILE [PARAMS]: what the server logs when a client connects (no export is served).
serve_error() {
  local f=$1; shift
  if "$NBDKIT" -U - --filter=xz file "$f" "$@" --run "$NBDINFO --size \"\$uri\"" >/dev/null 2>"$T/err"; then
    fail "$f $*: an export was served"
  fi
  cat "$T/err"
}
# A single block of 17 MiB: refused, saying how to recompress.
{ cat "$raw"; head -c 11M /dev/zero; } | xz -T1 -c >"$T/single.xz"
expect_eq "$(xz --robot -l "$T/single.xz" | awk '/^totals/ {print $3}')" "1" "single.xz: blocks"
expect_contains "$(serve_error "$T/single.xz")" "recompress it with many blocks, e.g. xz --block-size=16MiB" \
  "single-block file"
expect_contains "$(serve_error "$T/b1m.xz" xz-max-block=512K)" \
  "block of 1048576 bytes, larger than xz-max-block=524288" "xz-max-block too small"
expect_eq "$("$NBDKIT" -U - --filter=xz file "$T/b1m.xz" xz-max-block=1M xz-max-depth=1 \
  --run "$NBDCOPY \"\$uri\" - | sha256sum" | cut -d' ' -f1)" "$sum" "xz-max-block=1M xz-max-depth=1"
head -c 100000 "$T/b1m.xz" >"$T/trunc.xz"
expect_contains "$(serve_error "$T/trunc.xz")" "no stream footer" "truncated file"
expect_contains "$(serve_error "$raw")" "not an xz file" "a raw file"
# A corrupt byte inside the third block: its reads fail with EIO, the first block still reads.
off=$(xz --robot -lvv "$T/b1m.xz" | awk '$1 == "block" && $3 == 3 {print $5}')
[ -n "$off" ] || fail "no offset for block 3 in xz -lvv"
cp "$T/b1m.xz" "$T/bad.xz" && printf '\x55' | dd of="$T/bad.xz" bs=1 seek=$((off + 5000)) conv=notrunc status=none
if "$NBDKIT" -U - --filter=xz file "$T/bad.xz" --run "$NBDCOPY \"\$uri\" - >/dev/null" 2>"$T/err"; then
  fail "a corrupt block copied without error"
fi
expect_contains "$(cat "$T/err")" "Input/output error" "the client sees EIO"
expect_eq "$(dump_at "$NBDKIT" "$T/bad.xz" 100 64)" "$(dump_at "$NBDKIT" "$T/b1m.xz" 100 64)" "first block of bad.xz"

expect_fail_line 1 "xz-max-depth" "$NBDKIT" -U - --filter=xz file "$T/b1m.xz" xz-max-depth=0 --run true
expect_fail_line 1 "xz-max-block" "$NBDKIT" -U - --filter=xz file "$T/b1m.xz" xz-max-block=lots --run true
pass
