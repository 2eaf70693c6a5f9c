#!/usr/bin/env bash
# floppy plugin through our server: the FAT32 partition passes fsck.vfat -n, and mtools copies
# the whole tree back out identical to the source (long and Unicode names, empty files and
# directories, sizes around cluster boundaries, a file bigger than one FAT sector's worth).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer sfdisk fsck.vfat mcopy mdir 7z
export MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8  # mtools converts names by the locale

src=$T/tree
mkdir -p "$src/docs/deeper/deepest" "$src/empty dir" "$src/Ünïcødé"
echo "hello floppy" > "$src/hello.txt"
for n in 0 1 511 512 513 4095 4096 70000; do head -c $n /dev/urandom > "$src/docs/size-$n.bin"; done
head -c 3000000 /dev/urandom > "$src/docs/deeper/deepest/big file with spaces.dat"
for i in $(seq 1 150); do echo "$i" > "$src/docs/deeper/a rather long file name number $i.txt"; done
echo "x" > "$src/Ünïcødé/naïve résumé.txt"
echo "UP" > "$src/UPPER.TXT"
ln -s hello.txt "$src/symlink-is-skipped"

"$NBDKIT" -U - floppy dir="$src" label=TESTFLOPPY --run "$NBDCOPY \"\$uri\" $T/disk.img; $NBDINFO \"\$uri\" > $T/info" \
  || fail "nbdcopy from our floppy server failed"
expect_contains "$(cat $T/info)" "is_read_only: true" "nbdinfo"
expect_contains "$(sfdisk -d $T/disk.img)" "start=        2048" "MBR partition at 1 MiB"
expect_contains "$(sfdisk -d $T/disk.img)" "type=c" "MBR partition type FAT32 LBA"
dd if="$T/disk.img" of="$T/fs.img" bs=1M skip=1 status=none
fsck.vfat -n "$T/fs.img" > "$T/fsck.out" 2>&1 || fail "fsck.vfat -n: $(cat $T/fsck.out)"
expect_contains "$(mdir -i $T/fs.img ::/)" "Volume in drive : is TESTFLOPPY" "volume label"

mkdir "$T/out"
mcopy -s -n -i "$T/fs.img" ::/ "$T/out/" || fail "mcopy -s failed"
rm "$src/symlink-is-skipped"
diff -r "$src" "$T/out" > "$T/diff" || fail "tree read back by mtools differs: $(head $T/diff)"
[ -d "$T/out/empty dir" ] || fail "empty directory is missing"
expect_contains "$(7z l $T/fs.img)" "big file with spaces.dat" "7z lists the FAT"

# Negative: a label that is too long is a one-line startup error naming it.
expect_fail_line 1 "label=" "$NBDKIT" -U - floppy "$src" label=MUCHTOOLONGLABEL --run true
pass
