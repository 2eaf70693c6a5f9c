#!/usr/bin/env bash
# tar filter through our server over tar files made by GNU tar in every format it writes
# (gnu, ustar, pax, v7; names longer than 100 characters): each entry's bytes against the
# original and against Debian's nbdkit, writes in place checked with tar xOf, the filter
# stacked under the partition filter, and every bad archive or parameter refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer tar sfdisk qemu-img nbdkit

ours() { "$NBDKIT" -U - --filter=tar "$@"; }
src=$T/src
long=dir-with-a-long-name/$(printf 'x%.0s' $(seq 1 90))/disk-image-with-a-long-name.raw
mkdir -p "$src/$(dirname "$long")"
head -c 1000037 /dev/urandom >"$src/disk.img"
echo "a small file" >"$src/small.txt"
head -c 70000 /dev/urandom >"$src/$long"
[ ${#long} -gt 100 ] || fail "the long name is only ${#long} characters"
# 130 characters: too long for ustar's name field, so ustar splits it into prefix and name.
mid=$(printf 'p%.0s' $(seq 1 60))/$(printf 'f%.0s' $(seq 1 69))
mkdir -p "$src/${mid%/*}"
head -c 5000 /dev/urandom >"$src/$mid"

for format in gnu ustar pax v7; do
  tarball=$T/$format.tar
  names="small.txt disk.img"
  [ $format = v7 ] || names="$names $mid"
  [ $format = gnu ] || [ $format = pax ] && names="$names $long"
  # shellcheck disable=SC2086
  (cd "$src" && tar --format=$format -cf "$tarball" $names) || fail "tar --format=$format failed"
  for name in $names; do
    ours file "$tarball" tar-entry="$name" --run "\"$NBDCOPY\" \"\$uri\" $T/out" || fail "$format: $name: nbdcopy failed"
    expect_eq "$(md5sum <"$T/out")" "$(md5sum <"$src/$name")" "$format: $name checksum"
    expect_eq "$(ours file "$tarball" tar-entry="$name" --run "\"$NBDINFO\" --size \"\$uri\"")" \
      "$(stat -c %s "$src/$name")" "$format: $name size"
    "$REF_NBDKIT" -U - --filter=tar file "$tarball" tar-entry="$name" --run "$NBDCOPY \"\$uri\" $T/ref" ||
      fail "Debian's nbdkit could not serve $format: $name"
    if [ $format = gnu ] && [ ${#name} -gt 100 ]; then
      # Debian's 1.32 takes the offset from GNU tar's --block-number, which for a long name is
      # the block of the 'L' header: it serves the name itself, then the entry's header.
      expect_eq "$(head -c ${#name} "$T/ref")" "$name" "Debian's nbdkit serves the GNU long name's block"
    else
      cmp -s "$T/out" "$T/ref" || fail "$format: $name differs from Debian's nbdkit"
    fi
  done
  ours -r file "$tarball" tar-entry=disk.img --run "qemu-img compare -q -f raw -F raw \"\$uri\" $src/disk.img" ||
    fail "qemu-img compare: $format disk.img"
done
# Debian's own tar filter .so, loaded into our nbdkit, serves the same bytes.
so=/usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-tar-filter.so
[ -f "$so" ] || fail "$so is missing (scripts/install-deps.sh installs nbdkit)"
"$NBDKIT" -U - --filter="$so" file "$T/pax.tar" tar-entry=disk.img --run "\"$NBDCOPY\" \"\$uri\" $T/so.out" ||
  fail "Debian's tar filter .so in our nbdkit failed"
cmp -s "$T/so.out" "$src/disk.img" || fail "Debian's tar filter .so in our nbdkit serves other bytes"
# Negative: a different entry really has different bytes (no test above passes by accident).
ours file "$T/gnu.tar" tar-entry=small.txt --run "\"$NBDCOPY\" \"\$uri\" $T/out"
! cmp -s "$T/out" "$src/disk.img" || fail "small.txt served disk.img's bytes"

# Writes land in place: tar itself reads the new bytes back; the other entries are untouched.
cp "$T/pax.tar" "$T/w.tar"
head -c 1000037 /dev/urandom >"$T/new"
ours file "$T/w.tar" tar-entry=disk.img --run "\"$NBDCOPY\" $T/new \"\$uri\"" || fail "write through the filter failed"
expect_eq "$(tar -xOf "$T/w.tar" disk.img | md5sum)" "$(md5sum <"$T/new")" "tar xOf reads what was written"
expect_eq "$(tar -xOf "$T/w.tar" "$long" | md5sum)" "$(md5sum <"$src/$long")" "the long-named entry is untouched"
expect_eq "$(tar -tf "$T/w.tar" | wc -l)" 4 "tar still lists four entries"
expect_eq "$(stat -c %s "$T/w.tar")" "$(stat -c %s "$T/pax.tar")" "the tar file kept its size"
# The entry cannot grow: a write past its end fails and changes nothing.
cp "$T/w.tar" "$T/w2.tar"
if ours file "$T/w.tar" tar-entry=small.txt --run "$NBDSH -u \"\$uri\" -c 'h.pwrite(b\"y\" * 20, 0)'" 2>/dev/null; then
  fail "a write past the end of small.txt succeeded"
fi
cmp -s "$T/w.tar" "$T/w2.tar" || fail "a refused write changed the tar file"

# Stacked: a partitioned disk image inside a tar, served with --filter=partition on top.
dimg=$T/pdisk.img
truncate -s 8M "$dimg"
printf 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, size=4096, type=83\n' | sfdisk -q "$dimg" || fail "sfdisk"
dd if=/dev/urandom of="$dimg" bs=512 seek=8192 count=4096 conv=notrunc status=none
dd if="$dimg" of="$T/p2" bs=512 skip=8192 count=4096 status=none
cp "$src/small.txt" "$T/" && (cd "$T" && tar -cf stacked.tar small.txt pdisk.img) || fail "tar of the disk image"
"$NBDKIT" -U - --filter=partition --filter=tar file "$T/stacked.tar" tar-entry=pdisk.img partition=2 \
  --run "\"$NBDCOPY\" \"\$uri\" $T/out" || fail "partition over tar failed"
cmp -s "$T/out" "$T/p2" || fail "partition 2 of the disk inside the tar differs"
"$REF_NBDKIT" -U - --filter=partition --filter=tar file "$T/stacked.tar" tar-entry=pdisk.img partition=2 \
  --run "$NBDCOPY \"\$uri\" $T/ref" || fail "Debian's partition over tar failed"
cmp -s "$T/out" "$T/ref" || fail "partition over tar differs from Debian's nbdkit"

# --- Negative cases.
expect_fail_line 1 "only one tar-entry" "$NBDKIT" -U - --filter=tar file "$T/gnu.tar" tar-entry=a tar-entry=b --run true
expect_fail_line 1 "tar-entry=<FILENAME>" "$NBDKIT" -U - --filter=tar file "$T/gnu.tar" --run true
expect_fail_line 1 "tar=gtar: not supported" "$NBDKIT" -U - --filter=tar file "$T/gnu.tar" tar-entry=a tar=gtar --run true
expect_fail_line 1 "tar-limit=lots" "$NBDKIT" -U - --filter=tar file "$T/gnu.tar" tar-entry=a tar-limit=lots --run true
refused() {  # refused MESSAGE ARGS...: the server starts but serves no export, logging MESSAGE
  local want=$1; shift
  if ours "$@" --run "\"$NBDINFO\" --size \"\$uri\"" >/dev/null 2>"$T/err"; then fail "served: $*"; fi
  grep -qF "$want" "$T/err" || fail "'$*': expected '$want' in: $(cat "$T/err")"
}
refused "tar: entry 'nope.txt' not found in the tar file" file "$T/gnu.tar" tar-entry=nope.txt
(cd "$src" && tar -cf "$T/dirs.tar" dir-with-a-long-name)
refused "entry 'dir-with-a-long-name/' at offset 0 is a directory, not a plain file" file "$T/dirs.tar" tar-entry=dir-with-a-long-name/
# GNU sparse entries (pax GNU.sparse.* records, old GNU 'S' headers) store only the data
# runs, so their archive bytes are not the file: refused rather than served wrong.
truncate -s 1M "$src/holes.bin" && printf 'data' | dd of="$src/holes.bin" bs=1 seek=500000 conv=notrunc status=none
(cd "$src" && tar --format=pax --sparse -cf "$T/psparse.tar" holes.bin && tar --format=gnu --sparse -cf "$T/gsparse.tar" holes.bin) ||
  fail "tar --sparse"
refused "entry 'holes.bin' at offset 1024 is a GNU sparse file, not a plain file" file "$T/psparse.tar" tar-entry=holes.bin
refused "entry 'holes.bin' at offset 0 is a GNU sparse file, not a plain file" file "$T/gsparse.tar" tar-entry=holes.bin
# disk.img's header is after small.txt's (1024 bytes in): a 1K limit stops before it.
refused "tar-limit=1024 reached at offset 1024 before entry 'disk.img' was found" file "$T/gnu.tar" tar-entry=disk.img tar-limit=1K
expect_eq "$(ours file "$T/gnu.tar" tar-entry=disk.img tar-limit=2K --run "\"$NBDINFO\" --size \"\$uri\"")" 1000037 \
  "disk.img's header lies within tar-limit=2K"
cp "$T/gnu.tar" "$T/corrupt.tar"
printf 'Z' | dd of="$T/corrupt.tar" bs=1 seek=1030 conv=notrunc status=none  # disk.img's header name
refused "tar header at offset 1024: checksum mismatch" file "$T/corrupt.tar" tar-entry=disk.img
head -c 600000 "$T/gnu.tar" >"$T/short.tar"
refused "its entry (1000037 bytes at offset 1536) extends beyond the end of the tar file (600000 bytes)" \
  file "$T/short.tar" tar-entry=disk.img
# Random bytes: the checksum field is not octal or the sum is wrong, depending on the bytes.
refused "not a tar file, or a corrupt one" file "$src/disk.img" tar-entry=disk.img
pass
