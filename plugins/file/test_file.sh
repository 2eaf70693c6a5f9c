#!/usr/bin/env bash
# file plugin through our server with Debian's nbdcopy/nbdinfo/qemu-io as clients: contents
# and block status compared with Debian's file plugin, dir= and fd= modes, read-only, errors.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

# Copy in and out.
head -c 5M /dev/urandom > "$T/src.img"
truncate -s 5M "$T/disk.img"
"$NBDKIT" -U - file "$T/disk.img" --run "$NBDCOPY $T/src.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/out.img" ||
  fail "copy through the file plugin failed"
cmp "$T/src.img" "$T/disk.img" || fail "the file does not hold what was written"
cmp "$T/src.img" "$T/out.img" || fail "reading back differs"

# The same write/zero/discard sequence on two sparse files, through ours and Debian's:
# identical bytes and identical block status.
cat > "$T/ops.sh" <<'OPS'
qemu-io -f raw "$1" -c 'write -P 0x11 0 1M' -c 'write -P 0x22 3M 64k' -c 'write -z 256k 256k' \
  -c 'write -z -u 512k 128k' -c 'discard 3M 64k' -c 'write -P 0x33 6M 512' -c 'write -z 100 1000' >/dev/null &&
  /usr/bin/nbdinfo --map "$1" | awk '{print $1, $2, $4}'
OPS
# Also on tmpfs, which can punch holes but has no FALLOC_FL_ZERO_RANGE (the fallback path).
dirs=("$T")
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
  SHM=$(mktemp -d /dev/shm/nbdtest.XXXXXX)
  trap 'rm -rf "$SHM"; cleanup' EXIT
  dirs+=("$SHM")
fi
for d in "${dirs[@]}"; do
  truncate -s 8M "$d/ours.img" "$d/ref.img"
  ours=$("$NBDKIT" -U - file "$d/ours.img" --run "bash $T/ops.sh \"\$uri\"") || fail "qemu-io against ours failed ($d)"
  ref=$("$REF_NBDKIT" -U - file "$d/ref.img" --run "bash $T/ops.sh \"\$uri\"") || fail "qemu-io against Debian's failed ($d)"
  cmp "$d/ours.img" "$d/ref.img" || fail "file contents differ from Debian's file plugin ($d)"
  expect_eq "$ours" "$ref" "nbdinfo --map compared with Debian's file plugin ($d)"
  expect_contains "$ours" "hole,zero" "a sparse file shows holes ($d)"
done

# dir=: one export per regular file, listed and chosen by name.
mkdir "$T/d" "$T/d/sub"
printf 'alpha' > "$T/d/a.img"; printf 'bravo!' > "$T/d/b.img"
sock=$T/dir.sock
start_server "$sock" file dir="$T/d"
list=$($NBDINFO --list --json "nbd+unix:///?socket=$sock" | /usr/bin/python3 -c \
  'import json,sys; print(" ".join(e["export-name"] for e in json.load(sys.stdin)["exports"]))')
expect_eq "$list" "a.img b.img" "exports listed in dir mode"
got=$($NBDCOPY "nbd+unix:///b.img?socket=$sock" -)
expect_eq "$got" "bravo!" "export b.img"
$NBDINFO "nbd+unix:///?socket=$sock" >/dev/null 2>&1 && fail "dir mode served the default export"
$NBDINFO "nbd+unix:///sub?socket=$sock" >/dev/null 2>&1 && fail "dir mode served a subdirectory"

# fd=: an inherited descriptor, opened read-only here.
exec 5<"$T/src.img"
"$NBDKIT" -U - file fd=5 --run "$NBDCOPY \"\$uri\" $T/fd.img && $NBDINFO \"\$uri\" > $T/fd.info" ||
  fail "fd=5 failed"
exec 5<&-
cmp "$T/src.img" "$T/fd.img" || fail "fd=5 contents differ"
expect_contains "$(cat "$T/fd.info")" "is_read_only: true" "a read-only descriptor gives a read-only export"

# A loop device, where the kernel lets us make one: writes and zeroes through the block path
# (BLKZEROOUT / fallocate on a device) give the same bytes as Debian's plugin on a plain file.
cp "$T/src.img" "$T/blk.img"; cp "$T/src.img" "$T/blkref.img"
cat > "$T/blkops.sh" <<'OPS'
qemu-io -f raw "$1" -c 'write -P 0x55 0 64k' -c 'write -z 64k 64k' -c 'write -z -u 1M 1M' \
  -c 'write -P 0x66 4095 3' >/dev/null
OPS
if loop=$(losetup -f --show "$T/blk.img" 2>/dev/null); then
  rot=$(cat "/sys/block/${loop#/dev/}/queue/rotational" 2>/dev/null)
  "$NBDKIT" -U - file "$loop" --run "bash $T/blkops.sh \"\$uri\" && $NBDINFO --size \"\$uri\" > $T/blk.size &&
    $NBDINFO \"\$uri\" > $T/blk.info"; rc=$?
  losetup -d "$loop"
  [ $rc -eq 0 ] || fail "qemu-io against block device $loop failed"
  "$REF_NBDKIT" -U - file "$T/blkref.img" --run "bash $T/blkops.sh \"\$uri\"" || fail "reference block ops failed"
  cmp "$T/blk.img" "$T/blkref.img" || fail "block device contents differ from Debian's on a file"
  expect_eq "$(cat "$T/blk.size")" "5242880" "size of the block device"
  [ "$rot" = 1 ] && want=true || want=false
  expect_contains "$(cat "$T/blk.info")" "is_rotational: $want" "is_rotational of $loop (sysfs says $rot)"
else
  echo "note: no loop devices here; block device path not exercised" >&2
fi

# Negative: -r refuses writes; a missing file and a bad option are one-line errors.
out=$("$NBDKIT" -r -U - file "$T/disk.img" --run "qemu-io -f raw \"\$uri\" -c 'write 0 512'" 2>&1) &&
  fail "qemu-io could write to a -r export"
cmp "$T/src.img" "$T/disk.img" || fail "-r export was modified"
expect_fail_line 1 "file=$T/missing.img" "$NBDKIT" -U - file "$T/missing.img" --run true
expect_fail_line 1 "cache=sometimes" "$NBDKIT" -U - file "$T/disk.img" cache=sometimes --run true
pass
