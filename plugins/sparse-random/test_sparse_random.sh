#!/usr/bin/env bash
# sparse-random through our server: one instance as both source and destination of Debian's
# nbdcopy and of qemu-img convert; the same seed gives the same disk; copying a different
# image into it fails; the same disk as Debian's nbdkit for the same parameters.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-img

# A terabyte with 0.01% data (about 100 MiB in runs of 1 MiB) copied onto itself.
"$NBDKIT" -U - sparse-random 1T seed=1 percent=0.01 runlength=1M --run "$NBDCOPY \"\$uri\" \"\$uri\"" ||
  fail "nbdcopy sparse-random 1T onto itself"
"$NBDKIT" -U - sparse-random 1T seed=2 percent=0.01 runlength=1M random-content=true \
  --run "$NBDCOPY --request-size=65536 \"\$uri\" \"\$uri\"" || fail "nbdcopy random-content onto itself"
"$NBDKIT" -U - sparse-random 4G seed=3 --run "qemu-img convert -n -f raw -O raw \"\$uri\" \"\$uri\"" ||
  fail "qemu-img convert sparse-random onto itself"

# The default shape: about 10% data in runs, the rest holes, on every run with one seed.
sums() { "$NBDKIT" -U - sparse-random 64M percent=30 runlength=1M "$@" --run "$NBDCOPY \"\$uri\" - | md5sum"; }
a=$(sums seed=42); b=$(sums seed=42); c=$(sums seed=43)
expect_eq "$a" "$b" "same seed, same disk"
[ "$a" != "$c" ] || fail "seeds 42 and 43 gave the same disk"
# The same disk as upstream's plugin for the same parameters: sparse runs (kept as a list of
# flips), dense ones (kept as a bitmap), random content, and a partial last block. (Upstream's
# runlength= takes no suffix, so give it in bytes.)
for args in "256M seed=42 percent=30 runlength=1048576" "64M seed=5 percent=50 runlength=4096 random-content=true" \
  "10000000 seed=9 percent=99.5 runlength=4096" "1G seed=4294967295"; do
  ours=$("$NBDKIT" -U - sparse-random $args --run "$NBDCOPY \"\$uri\" - | md5sum")
  theirs=$("$REF_NBDKIT" -U - sparse-random $args --run "$NBDCOPY \"\$uri\" - | md5sum")
  expect_eq "$ours" "$theirs" "sparse-random $args against Debian's nbdkit"
  ours=$("$NBDKIT" -U - sparse-random $args --run "$NBDINFO --map \"\$uri\" | md5sum")
  theirs=$("$REF_NBDKIT" -U - sparse-random $args --run "$NBDINFO --map \"\$uri\" | md5sum")
  expect_eq "$ours" "$theirs" "map of sparse-random $args against Debian's nbdkit"
done

totals=$("$NBDKIT" -U - sparse-random 1T seed=42 --run "$NBDINFO --map --totals \"\$uri\"")
data_pct=$(awk '$4 == "data" { print int($2) }' <<<"$totals")
[ -n "$data_pct" ] && [ "$data_pct" -ge 8 ] && [ "$data_pct" -le 12 ] || fail "expected ~10% data: $totals"

# Holes read as zeroes and data blocks repeat one non-zero byte.
"$NBDKIT" -U - sparse-random 64M seed=5 percent=50 runlength=64K --run "
  $NBDINFO --map \"\$uri\" > $T/map && $NBDCOPY \"\$uri\" $T/disk.img" || fail "map/copy"
while read -r off len type rest; do
  blk=$(dd if="$T/disk.img" bs=4096 skip=$((off / 4096)) count=1 status=none | od -An -tx1 -v | tr -s ' \n' '\n' | sort -u | grep -c .)
  first=$(dd if="$T/disk.img" bs=1 skip="$off" count=1 status=none | od -An -tx1 | tr -d ' ')
  if [ "$type" = 0 ]; then
    [ "$blk" = 1 ] && [ "$first" != 00 ] || fail "data block at $off is not one non-zero byte"
  else
    [ "$blk" = 1 ] && [ "$first" = 00 ] || fail "hole at $off does not read as zeroes"
  fi
done < <(head -20 "$T/map")

# Negative: copying a different image into it fails with an I/O error.
head -c 16M /dev/urandom > "$T/other.img"
if "$NBDKIT" -U - sparse-random 16M seed=5 --run "$NBDCOPY $T/other.img \"\$uri\"" 2>"$T/err"; then
  fail "copying a different image into sparse-random succeeded"
fi
if "$NBDKIT" -U - sparse-random 16M seed=5 --run "qemu-img convert -n -f raw -O raw $T/other.img \"\$uri\"" 2>"$T/err2"; then
  fail "qemu-img convert of a different image into sparse-random succeeded"
fi
# The same disk with another seed is a different image too.
start_server "$T/seed6.sock" sparse-random 64M seed=6 percent=50
if "$NBDKIT" -U - sparse-random 64M seed=5 percent=50 --run \
  "$NBDCOPY \"nbd+unix:///?socket=$T/seed6.sock\" \"\$uri\"" 2>"$T/err3"; then
  fail "copying seed=6 into seed=5 succeeded"
fi
expect_contains "$(cat "$T/err3")" "does not match the disk's content" "server error for seed=6 into seed=5"

expect_fail_line 1 "percent=150: expected a number from 0 to 100" "$NBDKIT" -U - sparse-random 1G percent=150 --run true
pass
