#!/usr/bin/env bash
# qcow2dec filter over the file plugin, on images made by the real qemu-img and qemu-io: v3 and
# v2 (compat=0.10), 4 KiB and 2 MiB clusters, zlib- and zstd-compressed clusters, zero
# clusters, a sparse disk (holes in the map); qemu-img compare against the original; the blog's
# stack (qcow2 in a tar in an xz); and the failures: not qcow2, a backing file, a corrupt L1
# offset, an image cut short, bad cluster bits.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer qemu-img qemu-io xz tar

raw=$T/disk.raw
"$NBDKIT" -U - pattern 2M --run "$NBDCOPY \"\$uri\" $T/pattern" || fail "pattern"
{ cat "$T/pattern"; head -c 1M /dev/urandom; head -c 2M /dev/zero; seq 1 200000 | head -c 1500000; } > "$raw"
truncate -s 8M "$raw"  # ends in a hole
sum() { md5sum | cut -d' ' -f1; }
want=$(sum < "$raw")
copy() { "$NBDKIT" -U - --filter=qcow2dec file "$1" --run "$NBDCOPY \"\$uri\" -" | sum; }

qemu-img convert -f raw -O qcow2 "$raw" "$T/v3.qcow2"
qemu-img convert -f raw -O qcow2 -o compat=0.10 "$raw" "$T/v2.qcow2"
qemu-img convert -f raw -O qcow2 -o cluster_size=4096 "$raw" "$T/c4k.qcow2"
qemu-img convert -f raw -O qcow2 -o cluster_size=2M "$raw" "$T/c2m.qcow2"
qemu-img convert -f raw -O qcow2 -c "$raw" "$T/zlib.qcow2"
qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd "$raw" "$T/zstd.qcow2"
for f in v3 v2 c4k c2m zlib zstd; do
  expect_eq "$(copy "$T/$f.qcow2")" "$want" "$f.qcow2: checksum of the disk"
done
expect_eq "$("$NBDKIT" -U - --filter=qcow2dec file "$T/zstd.qcow2" --run "$NBDINFO --size \"\$uri\"")" \
  "8388608" "virtual size"
"$NBDKIT" -U - --filter=qcow2dec file "$T/zlib.qcow2" --run "qemu-img compare -f raw -F raw $raw \"\$uri\"" \
  > /dev/null || fail "qemu-img compare: the compressed image differs from the original"
# The comparison's own negative: one changed byte is seen.
cp "$raw" "$T/changed.raw" && printf 'X' | dd of="$T/changed.raw" bs=1 seek=3000000 conv=notrunc status=none
if "$NBDKIT" -U - --filter=qcow2dec file "$T/v3.qcow2" --run "qemu-img compare -f raw -F raw $T/changed.raw \"\$uri\"" \
  > /dev/null 2>&1; then
  fail "qemu-img compare found no difference with a changed byte"
fi

# Zero clusters (qemu-io write -z) read as zeros; the sparse parts are holes in the map.
cp "$T/v3.qcow2" "$T/zero.qcow2"
qemu-io -f qcow2 -c 'write -z 1M 1M' "$T/zero.qcow2" > /dev/null || fail "qemu-io write -z"
cp "$raw" "$T/zero.raw" && dd if=/dev/zero of="$T/zero.raw" bs=1M seek=1 count=1 conv=notrunc status=none
expect_eq "$(copy "$T/zero.qcow2")" "$(sum < "$T/zero.raw")" "zero clusters"
map=$("$NBDKIT" -U - --filter=qcow2dec file "$T/zero.qcow2" --run "$NBDINFO --map \"\$uri\"" | tr -s ' ' | sed 's/^ //')
# The zeros qemu-img left unallocated (3M-5M, and from the end of the text, rounded up to the
# 64 KiB cluster, to 8M) and the zero clusters qemu-io wrote are holes; the rest is data.
expect_eq "$map" "0 1048576 0 data
1048576 1048576 3 hole,zero
2097152 1048576 0 data
3145728 2097152 3 hole,zero
5242880 1310720 0 data
6553600 1835008 3 hole,zero" "the map of zero.qcow2"
info=$("$NBDKIT" -U - --filter=qcow2dec file "$T/v3.qcow2" --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "is_read_only: true" "the export is read-only"

# The blog's stack: a qcow2 inside a tar inside an xz.
(cd "$T" && tar cf - zstd.qcow2) | xz -T1 --block-size=1MiB > "$T/disk.tar.xz"
got=$("$NBDKIT" -U - --filter=qcow2dec --filter=tar --filter=xz file "$T/disk.tar.xz" tar-entry=zstd.qcow2 \
  --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "qcow2dec over tar over xz"

# serve_error FILE: what the server logs when a client connects (the open fails).
serve_error() {
  "$NBDKIT" -U - --filter=qcow2dec file "$1" --run "$NBDINFO \"\$uri\" >/dev/null 2>&1" 2>&1 >/dev/null
}
expect_contains "$(serve_error "$raw")" "no qcow2 magic" "a raw file"
qemu-img create -f qcow2 -b "$T/v3.qcow2" -F qcow2 "$T/overlay.qcow2" > /dev/null
expect_contains "$(serve_error "$T/overlay.qcow2")" "has a backing file" "a backing file"
cp "$T/v3.qcow2" "$T/badl1.qcow2"
printf '\x00\x00\x00\x7f\x00\x00\x00\x00' | dd of="$T/badl1.qcow2" bs=1 seek=40 conv=notrunc status=none
expect_contains "$(serve_error "$T/badl1.qcow2")" "L1 table" "an L1 table outside the file"
cp "$T/v3.qcow2" "$T/badcb.qcow2"
printf '\x00\x00\x00\x30' | dd of="$T/badcb.qcow2" bs=1 seek=20 conv=notrunc status=none
expect_contains "$(serve_error "$T/badcb.qcow2")" "cluster_bits 48" "bad cluster bits"
# Cut short: the header and tables are there, the data is not: reads fail with EIO, no crash.
head -c 400000 "$T/v3.qcow2" > "$T/short.qcow2"
if "$NBDKIT" -U - --filter=qcow2dec file "$T/short.qcow2" --run "$NBDCOPY \"\$uri\" null:" 2> "$T/short.err"; then
  fail "a copy from an image cut short succeeded"
fi
grep -q "lies outside the file" "$T/short.err" || fail "no clear error for an image cut short: $(cat "$T/short.err")"
pass
