#!/usr/bin/env bash
# partition filter through our server over disks partitioned by real sfdisk and fdisk (DOS with
# logical partitions, GPT, 512- and 4096-byte sectors): each partition's bytes, written with dd
# at the partition's offset, read back with our nbdcopy/nbddump and qemu-img, compared with
# Debian's nbdkit running the same filter, writes landing inside the partition only, our
# partitioning plugin's disks taken apart again, and every bad table or parameter refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo nbddump
require_peer sfdisk fdisk qemu-img nbdkit

# sectors FILE N: bytes [start, start+size) of partition N, as sfdisk -d lists it (512 sectors).
part_range() { sfdisk -d "$1" | awk -v d="$1$2" '$1 == d { gsub(",", ""); print $4, $6 }'; }
fill() {  # fill IMG START_SECTOR SECTORS SECTOR_SIZE: random bytes into that range
  head -c $(($3 * $4)) /dev/urandom | dd of="$1" bs="$4" seek="$2" conv=notrunc status=none
}
extract() {  # extract IMG START_SECTOR SECTORS SECTOR_SIZE OUT
  dd if="$1" of="$5" bs="$4" skip="$2" count="$3" status=none
}
ours() { "$NBDKIT" -U - --filter=partition "$@"; }

# --- DOS label: primaries 1 and 3, extended 2 holding logical 5 and 6.
dos_label() {
  truncate -s 20M "$1"
  sfdisk -q "$1" <<'EOF' || fail "sfdisk could not write the dos label"
label: dos
start=2048, size=4096, type=83
start=8192, size=8192, type=5
start=16384, size=4096, type=c
start=10240, size=2048, type=83
start=14336, size=1024, type=82
EOF
}
dos=$T/dos.img
dos_label "$dos"
for p in 1 3 5 6; do
  read -r start size <<<"$(part_range "$dos" $p)"
  [ -n "$size" ] || fail "sfdisk -d lists no partition $p"
  fill "$dos" "$start" "$size" 512
  extract "$dos" "$start" "$size" 512 "$T/dos.p$p"
  ours file "$dos" partition=$p --run "\"$NBDCOPY\" \"\$uri\" $T/ours.p$p" || fail "dos partition $p: nbdcopy failed"
  expect_eq "$(md5sum <"$T/ours.p$p")" "$(md5sum <"$T/dos.p$p")" "dos partition $p checksum"
  expect_eq "$(ours file "$dos" partition=$p --run "\"$NBDINFO\" --size \"\$uri\"")" $((size * 512)) "dos partition $p size"
  ours -r file "$dos" partition=$p --run "qemu-img compare -q -f raw -F raw \"\$uri\" $T/dos.p$p" ||
    fail "qemu-img compare: dos partition $p differs from its bytes in the image"
  "$REF_NBDKIT" -U - --filter=partition file "$dos" partition=$p --run "$NBDCOPY \"\$uri\" $T/ref.p$p" ||
    fail "Debian's nbdkit could not serve dos partition $p"
  cmp -s "$T/ours.p$p" "$T/ref.p$p" || fail "dos partition $p differs from Debian's nbdkit"
done
# Debian's own partition filter .so, loaded into our nbdkit, serves the same bytes.
so=/usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-partition-filter.so
[ -f "$so" ] || fail "$so is missing (scripts/install-deps.sh installs nbdkit)"
"$NBDKIT" -U - --filter="$so" file "$dos" partition=5 --run "\"$NBDCOPY\" \"\$uri\" $T/so.p5" ||
  fail "Debian's partition filter .so in our nbdkit failed"
cmp -s "$T/so.p5" "$T/ours.p5" || fail "Debian's partition filter .so in our nbdkit serves other bytes"
# Negative: the partitions differ from each other, so a wrong offset cannot pass.
! cmp -s "$T/ours.p5" <(head -c 1048576 "$T/ours.p1") || fail "partitions 1 and 5 have the same bytes"

# nbddump of partition 5 through the filter is Debian's nbddump of the bytes dd extracted.
d_ours=$(ours file "$dos" partition=5 --run "\"$NBDDUMP\" --length=256 \"\$uri\"")
d_ref=$("$REF_NBDKIT" -U - file "$T/dos.p5" --run "$NBDDUMP --length=256 \"\$uri\"")
[ "$(printf '%s\n' "$d_ref" | wc -l)" -ge 16 ] || fail "nbddump printed too little: $d_ref"
expect_eq "$d_ours" "$d_ref" "nbddump of partition 5"

# Writes go into the partition and nowhere else; the map is the partition's, as upstream's.
cp "$dos" "$T/before.img"
head -c 300000 /dev/urandom >"$T/new6"
truncate -s 524288 "$T/new6"
ours file "$dos" partition=6 --run "\"$NBDCOPY\" $T/new6 \"\$uri\"" || fail "write through partition 6 failed"
extract "$dos" 14336 1024 512 "$T/after.p6"
cmp -s "$T/after.p6" "$T/new6" || fail "the bytes written to partition 6 are not at its offset"
cmp -s <(head -c $((14336 * 512)) "$dos") <(head -c $((14336 * 512)) "$T/before.img") || fail "a write touched bytes before partition 6"
cmp -s <(tail -c +$((15360 * 512 + 1)) "$dos") <(tail -c +$((15360 * 512 + 1)) "$T/before.img") || fail "a write touched bytes after partition 6"
sparse=$T/sparse.img
dos_label "$sparse"
dd if=/dev/urandom of="$sparse" bs=512 seek=$((2048 + 1000)) count=8 conv=notrunc status=none
map_ours=$(ours file "$sparse" partition=1 --run "$NBDINFO --map \"\$uri\"")
map_ref=$("$REF_NBDKIT" -U - --filter=partition file "$sparse" partition=1 --run "$NBDINFO --map \"\$uri\"")
expect_eq "$map_ours" "$map_ref" "nbdinfo --map of partition 1"
expect_contains "$map_ours" "$((1000 * 512))" "map shows the data written at sector 1000 of the partition"

# --- GPT label, 512-byte sectors.
gpt=$T/gpt.img
truncate -s 20M "$gpt"
printf 'label: gpt\nstart=2048, size=4096\nstart=8192, size=8192\nstart=20480, size=2048\n' | sfdisk -q "$gpt" ||
  fail "sfdisk could not write the gpt label"
for p in 1 2 3; do
  read -r start size <<<"$(part_range "$gpt" $p)"
  fill "$gpt" "$start" "$size" 512
  extract "$gpt" "$start" "$size" 512 "$T/gpt.p$p"
  ours -r file "$gpt" partition=$p --run "qemu-img compare -q -f raw -F raw \"\$uri\" $T/gpt.p$p" ||
    fail "qemu-img compare: gpt partition $p"
  ours file "$gpt" partition=$p --run "\"$NBDCOPY\" \"\$uri\" $T/ours.g$p" && cmp -s "$T/ours.g$p" "$T/gpt.p$p" ||
    fail "gpt partition $p: bytes differ"
  "$REF_NBDKIT" -U - --filter=partition file "$gpt" partition=$p --run "$NBDCOPY \"\$uri\" $T/ref.g$p" &&
    cmp -s "$T/ours.g$p" "$T/ref.g$p" || fail "gpt partition $p differs from Debian's nbdkit"
done

# --- 4096-byte sectors (fdisk -b 4096): GPT and DOS with a logical partition. Debian's 1.32
# has no partition-sectorsize (it serves the protective MBR entry instead), so these are
# checked against the bytes dd extracts.
g4k=$T/g4k.img
truncate -s 32M "$g4k"
printf 'g\nn\n1\n\n+4M\nn\n2\n\n+8M\nw\n' | fdisk -b 4096 "$g4k" >/dev/null 2>&1 || fail "fdisk -b 4096 gpt"
d4k=$T/d4k.img
truncate -s 32M "$d4k"
printf 'o\nn\np\n1\n\n+4M\nn\ne\n2\n\n+12M\nn\nl\n\n+2M\nw\n' | fdisk -b 4096 "$d4k" >/dev/null 2>&1 || fail "fdisk -b 4096 dos"
for spec in "$g4k 1 256 1024" "$g4k 2 1280 2048" "$d4k 1 256 1024" "$d4k 5 1536 512"; do
  read -r img p start size <<<"$spec"
  fill "$img" "$start" "$size" 4096
  extract "$img" "$start" "$size" 4096 "$T/4k.p$p"
  ours file "$img" partition=$p partition-sectorsize=4096 --run "\"$NBDCOPY\" \"\$uri\" $T/ours.4k" ||
    fail "4k: ${img##*/} partition $p failed"
  cmp -s "$T/ours.4k" "$T/4k.p$p" || fail "4k: ${img##*/} partition $p bytes differ"
done
# Under the blocksize-policy filter the layer below advertises a 4096-byte minimum block size,
# from which the sector size is taken without the parameter, as upstream does.
ours file "$g4k" partition=2 --filter=blocksize-policy blocksize-minimum=4096 --run "\"$NBDCOPY\" \"\$uri\" $T/ours.4k" ||
  fail "4k: sector size not taken from the minimum block size"
extract "$g4k" 1280 2048 4096 "$T/4k.p2"
cmp -s "$T/ours.4k" "$T/4k.p2" || fail "4k: partition 2 found from the block size has other bytes"
# Without the parameter the file plugin advertises no 4096 minimum block size, so 512 is used:
# the GPT is not found and the error says which sector size would find it.
if ours file "$g4k" partition=1 --run "\"$NBDINFO\" --size \"\$uri\"" 2>"$T/err" >/dev/null; then
  fail "a 4096-sector GPT was served with 512-byte sectors"
fi
grep -q "use partition-sectorsize=4096" "$T/err" || fail "no sector size hint: $(cat "$T/err")"

# --- Our partitioning plugin's disk, taken apart again by the filter.
head -c 1000000 /dev/urandom >"$T/pa"
head -c 300000 /dev/urandom >"$T/pb"
for type in mbr gpt; do
  for p in 1 2; do
    f=$T/p$([ $p = 1 ] && echo a || echo b)
    "$NBDKIT" -U - partitioning "$T/pa" "$T/pb" partition-type=$type --run "\"$NBDCOPY\" \"\$uri\" $T/whole.img" ||
      fail "partitioning plugin ($type) failed"
    ours file "$T/whole.img" partition=$p --run "\"$NBDCOPY\" \"\$uri\" $T/back" || fail "$type partition $p failed"
    expect_eq "$(stat -c %s "$T/back")" $((($(stat -c %s "$f") + 511) / 512 * 512)) "$type partition $p size"
    cmp -s <(head -c "$(stat -c %s "$f")" "$T/back") "$f" || fail "$type partition $p: the file's bytes did not come back"
  done
done

# --- Negative cases: each one line, naming what is wrong.
expect_fail_line 1 "partition=0" "$NBDKIT" -U - --filter=partition memory 1M partition=0 --run true
expect_fail_line 1 "partition" "$NBDKIT" -U - --filter=partition memory 1M partition=first --run true
expect_fail_line 1 "partition-sectorsize=1000" "$NBDKIT" -U - --filter=partition memory 1M partition=1 partition-sectorsize=1000 --run true
expect_fail_line 1 "partition=N parameter is required" "$NBDKIT" -U - --filter=partition memory 1M --run true
refused() {  # refused MESSAGE ARGS...: the server starts but serves no export, logging MESSAGE
  local want=$1; shift
  if ours "$@" --run "\"$NBDINFO\" --size \"\$uri\"" >/dev/null 2>"$T/err"; then fail "served: $*"; fi
  grep -qF "$want" "$T/err" || fail "'$*': expected '$want' in: $(cat "$T/err")"
}
refused "MBR partition 7 not found (logical partitions are 5 to 6)" file "$dos" partition=7
refused "MBR partition 2 is an extended partition" file "$dos" partition=2
refused "GPT partition 4 not found (its entry is unused)" file "$gpt" partition=4
refused "GPT partition 200 is out of range (the table has 128 entries)" file "$gpt" partition=200
refused "the disk has no partition table" memory 1M partition=1
cp "$dos" "$T/short.img" && truncate -s 9M "$T/short.img"
refused "MBR partition 3 (sectors 16384+4096 of 512 bytes) extends beyond the end of the disk" file "$T/short.img" partition=3
cp "$gpt" "$T/bad.img"
printf 'XXXX' | dd of="$T/bad.img" bs=1 seek=$((512 + 60)) conv=notrunc status=none
ours file "$T/bad.img" partition=2 --run "\"$NBDCOPY\" \"\$uri\" $T/fromback" 2>"$T/warn" || fail "backup GPT not used"
cmp -s "$T/fromback" "$T/gpt.p2" || fail "partition 2 from the backup GPT differs"
grep -q "primary GPT is damaged" "$T/warn" || fail "no warning about the damaged primary GPT: $(cat "$T/warn")"
size=$(stat -c %s "$T/bad.img")
printf 'XXXX' | dd of="$T/bad.img" bs=1 seek=$((size - 512 + 60)) conv=notrunc status=none
refused "header CRC mismatch; backup GPT header at LBA 40959: header CRC mismatch" file "$T/bad.img" partition=2
pass
