#!/usr/bin/env bash
# swab filter through our server: bytes of each word reversed (checked against dd conv=swab and
# by value), the same bytes, size and block sizes as Debian's nbdkit, writes land swapped in
# the file below, qemu-io's read-modify-write of unaligned bytes works, and unaligned requests
# from a client that does not align fail with EINVAL.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbddump nbdinfo
require_peer nbdkit qemu-io

# Content by value: swab-bits=64 makes the pattern plugin's big-endian offsets little-endian.
out=$(timeout 20 "$NBDKIT" -U - --filter=swab pattern 1M swab-bits=64 --run "$NBDDUMP -n 16 --offset 0x10 \"\$uri\"")
expect_contains "$out" "10 00 00 00 00 00 00 00  18 00 00 00 00 00 00 00" "pattern through swab-bits=64"

# The default (16) is dd conv=swab of the plugin's bytes.
head -c 1000000 /dev/urandom > "$T/disk.img"
timeout 20 "$NBDKIT" -r -U - --filter=swab file "$T/disk.img" --run "$NBDCOPY \"\$uri\" $T/out16.img" ||
  fail "copy through swab"
dd if="$T/disk.img" conv=swab status=none | cmp - "$T/out16.img" || fail "swab-bits=16 is not dd conv=swab"

# Same bytes, size and block sizes as Debian's nbdkit for every width, over an odd-sized disk
# (not the maximum: our server caps the one it advertises at 32M, the largest request it takes).
head -c 1000003 /dev/urandom > "$T/odd.img"
for bits in 8 16 32 64; do
  for server in "$NBDKIT" "$REF_NBDKIT"; do
    timeout 20 "$server" -r -U - --filter=swab file "$T/odd.img" swab-bits=$bits \
      --run "$NBDINFO \"\$uri\" | grep -E 'export-size|block_size_(minimum|preferred)' > $T/info.$bits.${server//\//_}; \
             $NBDCOPY \"\$uri\" $T/copy.$bits.${server//\//_}" || fail "$server swab-bits=$bits: copy"
  done
  cmp "$T/copy.$bits.${NBDKIT//\//_}" "$T/copy.$bits.${REF_NBDKIT//\//_}" || fail "swab-bits=$bits: bytes differ from Debian's"
  expect_eq "$(cat "$T/info.$bits.${NBDKIT//\//_}")" "$(cat "$T/info.$bits.${REF_NBDKIT//\//_}")" "swab-bits=$bits: nbdinfo"
done
expect_contains "$(cat "$T/info.32.${NBDKIT//\//_}")" "export-size: 1000000" "size rounded down to the word"
cmp -s "$T/copy.32.${NBDKIT//\//_}" "$T/copy.64.${NBDKIT//\//_}" && fail "32 and 64 bits gave the same bytes"

# Block status passes through, word-aligned: the same map as Debian's over a sparse file.
truncate -s 1M "$T/sparse.img"
printf abc | dd of="$T/sparse.img" bs=1 seek=5000 conv=notrunc status=none
for server in "$NBDKIT" "$REF_NBDKIT"; do
  timeout 20 "$server" -r -U - --filter=swab file "$T/sparse.img" swab-bits=64 \
    --run "$NBDINFO --map \"\$uri\"" > "$T/map.${server//\//_}" || fail "$server: nbdinfo --map"
done
expect_eq "$(cat "$T/map.${NBDKIT//\//_}")" "$(cat "$T/map.${REF_NBDKIT//\//_}")" "nbdinfo --map"
expect_contains "$(cat "$T/map.${NBDKIT//\//_}")" "4096        4096    0  data" "the data block in the map"

# Writes are swapped on their way down: what lands in the file is the data swapped.
truncate -s 1M "$T/target.img"
timeout 20 "$NBDKIT" -U - --filter=swab file "$T/target.img" --run "$NBDCOPY $T/out16.img \"\$uri\"" ||
  fail "copy into swab"
head -c 1000000 "$T/target.img" | cmp - "$T/disk.img" || fail "write through swab-bits=16 did not land swapped"

# qemu-io honours the minimum block size: unaligned bytes are read-modify-written, as with Debian's.
qio='qemu-io -f raw -c "write -P 0x11 1 3" -c "write -P 0x22 13 2" -c "read -v 0 16" "$uri" | grep "^0000"'
for server in "$NBDKIT" "$REF_NBDKIT"; do
  timeout 20 "$server" -U - --filter=swab memory 1M swab-bits=32 --run "$qio" > "$T/qio.${server//\//_}" ||
    fail "$server: qemu-io"
done
expect_eq "$(cat "$T/qio.${NBDKIT//\//_}")" "$(cat "$T/qio.${REF_NBDKIT//\//_}")" "qemu-io output"
expect_contains "$(cat "$T/qio.${NBDKIT//\//_}")" "00 11 11 11 00 00 00 00 00 00 00 00 00 22 22 00" "qemu-io bytes"

# Negative: a client that does not align (strict mode off) gets EINVAL.
script='
h.set_strict_mode(0)
for off, n in ((2, 4), (4, 2)):
    try:
        h.pread(n, off)
        print("read", off, n, "ok")
    except nbd.Error as e:
        print("read", off, n, "errno", e.errnum)
print(h.pread(4, 4) == b"\0\0\0\0")'
out=$(timeout 20 "$NBDKIT" -U - --filter=swab memory 1M swab-bits=32 --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null)
expect_eq "$out" "$(printf 'read 2 4 errno 22\nread 4 2 errno 22\nTrue')" "unaligned reads"

# Negative: bad swab-bits values are one line naming the parameter, exit 1.
for v in 12 128 x; do
  expect_fail_line 1 "swab-bits=$v" "$NBDKIT" -U - --filter=swab memory 1M swab-bits=$v --run true
done
pass
