#!/usr/bin/env bash
# tmpdisk plugin through our server: each connection gets a fresh filesystem (checked with
# e2fsck and fsck.vfat); writes by one client are not seen by the next; command= works.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io e2fsck dumpe2fs fsck.vfat
export TMPDIR=$T/tmp
mkdir "$TMPDIR"

"$NBDKIT" -U - tmpdisk 32M label=SCRATCH --run "
  qemu-io -f raw -c 'write -P 0x42 0 4k' \"\$uri\" >/dev/null &&
  $NBDCOPY \"\$uri\" $T/second.img" || fail "ext4 tmpdisk"
expect_eq "$(stat -c %s $T/second.img)" $((32 << 20)) "disk size"
e2fsck -fn "$T/second.img" >/dev/null 2>&1 || fail "second client did not get a clean ext4: $(e2fsck -fn $T/second.img 2>&1)"
expect_contains "$(dumpe2fs -h $T/second.img 2>/dev/null)" "Filesystem volume name:   SCRATCH" "label"
[ -z "$(ls $TMPDIR)" ] || fail "temporary disks left in TMPDIR: $(ls $TMPDIR)"

"$NBDKIT" -U - tmpdisk 8M type=vfat label=FATDISK --run "$NBDCOPY \"\$uri\" $T/fat.img" || fail "vfat tmpdisk"
fsck.vfat -n "$T/fat.img" >/dev/null || fail "fsck.vfat: $(fsck.vfat -n $T/fat.img)"
expect_contains "$(MTOOLS_SKIP_CHECK=1 mlabel -s -i $T/fat.img ::)" "FATDISK" "vfat label"

# command= with a user variable; the size served is whatever the command made.
out=$("$NBDKIT" -U - tmpdisk 1M fill=ab command='printf "%s" "$fill" > "$disk"; truncate -s 4096 "$disk"' \
  --run "$NBDINFO --size \"\$uri\"; $NBDCOPY \"\$uri\" $T/cmd.img")
expect_eq "$out" 4096 "command= disk size"
expect_eq "$(head -c 2 $T/cmd.img)" "ab" "command= disk contents"

# Negatives: size is required (startup error); a failing command fails the client.
expect_fail_line 1 "size" "$NBDKIT" -U - tmpdisk type=ext4 --run true
"$NBDKIT" -U - tmpdisk 1M command='exit 1' --run "$NBDINFO --size \"\$uri\"" >/dev/null 2>&1 \
  && fail "a failing command should fail the client"
pass
