#!/usr/bin/env bash
# partitioning plugin through our server, checked by real tools: sfdisk -d and sgdisk -v read
# the tables (compared with Debian's nbdkit, GUIDs aside), and each partition reads back as its file.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer sfdisk sgdisk nbdkit

head -c 5000 /dev/urandom > "$T/p1"
head -c 1048576 /dev/urandom > "$T/p2"
head -c 70000 /dev/urandom > "$T/p3"
args=("$T/p1" file="$T/p2" mbr-id=0x82 type-guid=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F file="$T/p3")

# sfdisk -d without the GUIDs (ours are derived from the paths, upstream's differ).
table() { sfdisk -d "$1" | sed -e 's/uuid=[0-9A-F-]*, //' -e '/^label-id/d' -e '/^device/d' -e "s#$1##"; }

for t in mbr gpt; do
  "$NBDKIT" -U - -r partitioning "${args[@]}" partition-type=$t --run "$NBDCOPY \"\$uri\" $T/$t.img" \
    || fail "$t: nbdcopy from our server failed"
  "$REF_NBDKIT" -U - -r partitioning "${args[@]}" partition-type=$t --run "$NBDCOPY \"\$uri\" $T/ref-$t.img"
  expect_eq "$(table $T/$t.img)" "$(table $T/ref-$t.img)" "$t: sfdisk -d against Debian's nbdkit"
  expect_eq "$(stat -c %s $T/$t.img)" "$(stat -c %s $T/ref-$t.img)" "$t: disk size"
  i=1
  for p in p1 p2 p3; do
    start=$(sfdisk -d "$T/$t.img" | awk -v n="$T/$t.img$i" '$1 == n { sub(",", "", $4); print $4 }')
    size=$(stat -c %s "$T/$p")
    cmp -n "$size" -i "$((start * 512)):0" "$T/$t.img" "$T/$p" || fail "$t: partition $i is not $p"
    i=$((i + 1))
  done
done
sgdisk -v "$T/gpt.img" | grep -q "No problems found" || fail "sgdisk -v found problems: $(sgdisk -v $T/gpt.img)"
expect_contains "$(sgdisk -p $T/gpt.img)" "8200  $T/p3" "sgdisk -p shows the swap type and the file name"

# Six files: MBR with an extended partition and logical partitions 5 to 7.
"$NBDKIT" -U - -r partitioning partition-type=mbr file="$T/p1" file="$T/p1" file="$T/p1" file="$T/p1" file="$T/p3" file="$T/p1" \
  --run "$NBDCOPY \"\$uri\" $T/ext.img"
expect_contains "$(sfdisk -l -o Device,Type $T/ext.img)" "$T/ext.img7 Linux" "sfdisk sees logical partition 7"
start=$(sfdisk -d "$T/ext.img" | awk -v n="$T/ext.img6" '$1 == n { sub(",", "", $4); print $4 }')
cmp -n 70000 -i "$((start * 512)):0" "$T/ext.img" "$T/p3" || fail "logical partition 6 is not p3"

# Writes through the disk reach the file; writes over the table are refused.
cp "$T/p2" "$T/w2"
"$NBDKIT" -U - partitioning "$T/p1" file="$T/w2" --run "qemu-io -f raw -c 'write -P 0x33 2M 4k' \"\$uri\"" >/dev/null \
  || fail "write into partition 2 failed"
cmp -n 4096 "$T/w2" <(head -c 4096 /dev/zero | tr '\0' '3') || fail "write did not reach the partition file"
out=$("$NBDKIT" -U - partitioning "$T/p1" file="$T/w2" --run "qemu-io -f raw -c 'write -P 0x33 0 512' \"\$uri\"" 2>&1)
expect_contains "$out" "Input/output error" "writing over the MBR"

# Negative: a zero-length file is a one-line startup error.
: > "$T/empty"
expect_fail_line 1 "$T/empty" "$NBDKIT" -U - partitioning "$T/p1" file="$T/empty" --run true
pass
