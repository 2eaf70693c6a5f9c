#!/usr/bin/env bash
# linuxdisk plugin through our server: the disk is read with nbdcopy, the GPT checked with
# sfdisk and sgdisk, the filesystem with e2fsck -fn, debugfs and dumpe2fs.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer sfdisk sgdisk e2fsck debugfs dumpe2fs

mkdir -p "$T/tree/sub/deeper"
echo "hello linuxdisk" > "$T/tree/hello.txt"
head -c 1000000 /dev/urandom > "$T/tree/sub/blob"
ln "$T/tree/sub/blob" "$T/tree/sub/hardlink"
ln -s ../hello.txt "$T/tree/sub/symlink"
for i in $(seq 1 300); do echo "$i" > "$T/tree/sub/deeper/file-with-a-longish-name-$i"; done
export TMPDIR=$T

for type in ext2 ext3 ext4; do
  "$NBDKIT" -U - linuxdisk dir="$T/tree" type=$type label=ROOT$type --run "$NBDCOPY \"\$uri\" $T/$type.img" \
    || fail "$type: nbdcopy from our server failed"
  sgdisk -v "$T/$type.img" | grep -q "No problems found" || fail "$type: sgdisk -v: $(sgdisk -v $T/$type.img)"
  start=$(sfdisk -d "$T/$type.img" | awk -v n="$T/$type.img1" '$1 == n { sub(",", "", $4); print $4 }')
  expect_eq "$start" 2048 "$type: partition 1 start"
  dd if="$T/$type.img" of="$T/fs" bs=1M skip=1 status=none
  e2fsck -fn "$T/fs" >/dev/null 2>&1 || fail "$type: e2fsck -fn: $(e2fsck -fn $T/fs 2>&1)"
  expect_eq "$(debugfs -R 'cat /hello.txt' $T/fs 2>/dev/null)" "hello linuxdisk" "$type: debugfs cat"
  debugfs -R "dump /sub/hardlink $T/blob.out" "$T/fs" >/dev/null 2>&1
  cmp "$T/blob.out" "$T/tree/sub/blob" || fail "$type: blob differs"
  expect_eq "$(debugfs -R 'ls -l /sub/deeper' $T/fs 2>/dev/null | grep -c file-with)" 300 "$type: directory entries"
  expect_contains "$(debugfs -R 'stat /sub/symlink' $T/fs 2>/dev/null)" 'Fast link dest: "../hello.txt"' "$type: symlink"
  expect_eq "$(dumpe2fs -h $T/fs 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')" "ROOT$type" "$type: label"
done
expect_contains "$(dumpe2fs -h $T/fs 2>/dev/null)" "extent" "ext4 features"

# size=+SIZE leaves at least that much free; size=SIZE gives the exact size, as upstream does.
"$NBDKIT" -U - linuxdisk "$T/tree" size=+20M --run "$NBDCOPY \"\$uri\" $T/plus.img"
dd if="$T/plus.img" of="$T/fs" bs=1M skip=1 status=none
free=$(dumpe2fs -h "$T/fs" 2>/dev/null | sed -n 's/^Free blocks: *//p')
[ $((free * 4096)) -ge $((20 << 20)) ] || fail "size=+20M left only $free free blocks"
ours=$("$NBDKIT" -U - linuxdisk "$T/tree" size=10M --run "$NBDINFO --size \"\$uri\"")
ref=$("$REF_NBDKIT" -U - linuxdisk "$T/tree" size=10M --run "$NBDINFO --size \"\$uri\"")
expect_eq "$ours" "$ref" "size=10M disk size against Debian's nbdkit"

# Negative: a size too small for the files is a one-line startup error naming mke2fs.
expect_fail_line 1 "mke2fs" "$NBDKIT" -U - linuxdisk "$T/tree" size=100K --run true
pass
