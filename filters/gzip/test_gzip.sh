#!/usr/bin/env bash
# gzip filter through our server: files compressed by gzip(1) (one member, several members, in
# a tar) read back byte for byte, as under Debian's nbdkit; zero runs are holes in the map;
# writes are refused; truncated, corrupt and non-gzip files refuse the client with a reason.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit qemu-img gzip tar
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

raw=$T/disk.img
{ head -c 300K /dev/urandom; head -c 1M /dev/zero; seq 1 100000; } >"$raw"
gzip -6 -c "$raw" >"$T/disk.img.gz"
sum=$(md5sum <"$raw")

copy() { "$1" -U - --filter=gzip file "$2" --run 'nbdcopy "$uri" - | md5sum'; }
expect_eq "$(copy "$NBDKIT" "$T/disk.img.gz")" "$sum" "our gzip filter serves the original bytes"
expect_eq "$(copy "$REF_NBDKIT" "$T/disk.img.gz")" "$sum" "Debian's gzip filter serves the same"
"$NBDKIT" -U - --filter=gzip file "$T/disk.img.gz" --run "qemu-img compare -f raw '$raw' \"\$uri\"" >/dev/null ||
  fail "qemu-img compare against the original"

# Several members (cat of two .gz files), as gzip -d reads them.
gzip -c "$raw" >"$T/two.gz"
printf 'second member\n' | gzip -c >>"$T/two.gz"
expect_eq "$(copy "$NBDKIT" "$T/two.gz")" "$({ cat "$raw"; printf 'second member\n'; } | md5sum)" "a two-member file"

# The megabyte of zeroes is a hole; the size is the uncompressed one; writes refused.
map=$("$NBDKIT" -U - --filter=gzip file "$T/disk.img.gz" --run 'nbdinfo --map "$uri"')
expect_contains "$map" "hole,zero" "nbdinfo --map shows the zero run as a hole"
size=$("$NBDKIT" -U - --filter=gzip file "$T/disk.img.gz" --run 'nbdinfo --size "$uri"')
expect_eq "$size" "$(stat -c %s "$raw")" "export size"
"$NBDKIT" -U - --filter=gzip file "$T/disk.img.gz" --run 'nbdinfo "$uri"' | grep -q "read_only: true" ||
  fail "the export is not read-only"

# Stacked under the tar filter: an entry of a .tar.gz, as upstream's man page shows.
mkdir "$T/t" && cp "$raw" "$T/t/disk.img" && printf 'readme\n' >"$T/t/README"
tar -C "$T/t" -czf "$T/t.tar.gz" README disk.img
out=$("$NBDKIT" -U - --filter=tar --filter=gzip file "$T/t.tar.gz" tar-entry=disk.img --run 'nbdcopy "$uri" - | md5sum')
expect_eq "$out" "$sum" "--filter=tar --filter=gzip over a .tar.gz"

# Bad input: the client is refused and the server says why.
head -c 5000 "$T/disk.img.gz" >"$T/trunc.gz"
cp "$T/disk.img.gz" "$T/corrupt.gz" && printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$T/corrupt.gz" bs=1 seek=2000 conv=notrunc status=none
for bad in trunc.gz:truncated corrupt.gz:corrupt "disk.img:not a gzip file"; do
  f=${bad%%:*} why=${bad#*:}
  "$NBDKIT" -U - --filter=gzip file "$T/$f" --run 'nbdcopy "$uri" null:' >"$T/out" 2>&1 &&
    fail "$f was served"
  grep -q "gzip:.*$why" "$T/out" || fail "$f: no reason given: $(cat "$T/out")"
done
pass
