#!/usr/bin/env bash
# bzip2 filter through our server: files compressed by bzip2(1) (one stream, two concatenated,
# in a tar) read back byte for byte, equal to bzip2 -dc; zero runs are holes in the map; writes
# are refused; truncated, corrupt and non-bzip2 files refuse the client with a reason.
# (Debian's nbdkit 1.32 has no bzip2 filter: bzip2 -dc is the reference.)
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer qemu-img bzip2 tar

raw=$T/disk.img
{ head -c 300K /dev/urandom; head -c 1M /dev/zero; seq 1 100000; } >"$raw"
bzip2 -9 -c "$raw" >"$T/disk.img.bz2"
sum=$(md5sum <"$raw")
expect_eq "$(bzip2 -dc "$T/disk.img.bz2" | md5sum)" "$sum" "bzip2 -dc round trip (the reference)"

copy() { "$NBDKIT" -U - --filter=bzip2 file "$1" --run 'nbdcopy "$uri" - | md5sum'; }
expect_eq "$(copy "$T/disk.img.bz2")" "$sum" "our bzip2 filter serves the original bytes"
"$NBDKIT" -U - --filter=bzip2 file "$T/disk.img.bz2" --run "qemu-img compare -f raw '$raw' \"\$uri\"" >/dev/null ||
  fail "qemu-img compare against the original"

# Two streams (cat of two .bz2 files), as bzip2 -d reads them.
cp "$T/disk.img.bz2" "$T/two.bz2"
printf 'second stream\n' | bzip2 -c >>"$T/two.bz2"
expect_eq "$(copy "$T/two.bz2")" "$(bzip2 -dc "$T/two.bz2" | md5sum)" "a two-stream file, as bzip2 -dc"

map=$("$NBDKIT" -U - --filter=bzip2 file "$T/disk.img.bz2" --run 'nbdinfo --map "$uri"')
expect_contains "$map" "hole,zero" "nbdinfo --map shows the zero run as a hole"
size=$("$NBDKIT" -U - --filter=bzip2 file "$T/disk.img.bz2" --run 'nbdinfo --size "$uri"')
expect_eq "$size" "$(stat -c %s "$raw")" "export size"
"$NBDKIT" -U - --filter=bzip2 file "$T/disk.img.bz2" --run 'nbdinfo "$uri"' | grep -q "read_only: true" ||
  fail "the export is not read-only"

# Under the tar filter: an entry of a .tar.bz2.
mkdir "$T/t" && cp "$raw" "$T/t/disk.img" && printf 'readme\n' >"$T/t/README"
tar -C "$T/t" -cjf "$T/t.tar.bz2" README disk.img
out=$("$NBDKIT" -U - --filter=tar --filter=bzip2 file "$T/t.tar.bz2" tar-entry=disk.img --run 'nbdcopy "$uri" - | md5sum')
expect_eq "$out" "$sum" "--filter=tar --filter=bzip2 over a .tar.bz2"

# Bad input: the client is refused and the server says why.
head -c 5000 "$T/disk.img.bz2" >"$T/trunc.bz2"
cp "$T/disk.img.bz2" "$T/corrupt.bz2" && printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$T/corrupt.bz2" bs=1 seek=2000 conv=notrunc status=none
for bad in trunc.bz2:truncated corrupt.bz2:corrupt "disk.img:not a bzip2 file"; do
  f=${bad%%:*} why=${bad#*:}
  "$NBDKIT" -U - --filter=bzip2 file "$T/$f" --run 'nbdcopy "$uri" null:' >"$T/out" 2>&1 &&
    fail "$f was served"
  grep -q "bzip2:.*$why" "$T/out" || fail "$f: no reason given: $(cat "$T/out")"
done
pass
