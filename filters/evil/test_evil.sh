#!/usr/bin/env bash
# evil filter through our server: a copy at probability 0 is exact; cosmic rays flip bits at
# the expected rate (generous bounds); stuck bits are the same for the same seed on every run
# and differ for another seed.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

# popcount FILE: number of bits set.
popcount() { /usr/bin/python3 -c 'import sys; print(sum(bin(b).count("1") for b in open(sys.argv[1], "rb").read()))' "$1"; }

"$REF_NBDKIT" -U - pattern 2M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
for mode in cosmic-rays stuck-bits stuck-wires; do
  rm -f "$T/out.img"
  "$NBDKIT" -U - --filter=evil pattern 2M evil=$mode evil-probability=0 \
    --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "copy through evil=$mode"
  cmp "$T/out.img" "$T/ref.img" || fail "evil=$mode evil-probability=0 corrupted data"
done

# 4 MiB of zeroes = 33554432 bits; at 1e-4 about 3355 flips (sd ~58).
"$NBDKIT" -U - --filter=evil --filter=noextents null 4M evil=cosmic-rays evil-probability=1e-4 \
  --run "$NBDCOPY \"\$uri\" $T/cosmic.img" || fail "copy through cosmic rays"
n=$(popcount "$T/cosmic.img")
[ "$n" -gt 2500 ] && [ "$n" -lt 4300 ] || fail "cosmic rays flipped $n bits, expected about 3355"
head -c 4M /dev/zero | cmp -s - "$T/cosmic.img" && fail "cosmic rays left the data intact"

# Stuck bits: half of ~3355 stuck bits are stuck high on zeroes; the same every run.
for run in 1 2; do
  "$NBDKIT" -U - --filter=evil --filter=noextents null 4M evil-probability=1e-4 evil-seed=5 \
    --run "$NBDCOPY \"\$uri\" $T/stuck$run.img" || fail "copy through stuck bits"
done
cmp "$T/stuck1.img" "$T/stuck2.img" || fail "same seed, different stuck bits"
n=$(popcount "$T/stuck1.img")
[ "$n" -gt 1200 ] && [ "$n" -lt 2200 ] || fail "$n bits stuck high, expected about 1678"
"$NBDKIT" -U - --filter=evil --filter=noextents null 4M evil-probability=1e-4 evil-seed=6 \
  --run "$NBDCOPY \"\$uri\" $T/stuck3.img" || fail "copy through stuck bits, other seed"
cmp -s "$T/stuck1.img" "$T/stuck3.img" && fail "another seed gave the same stuck bits"

expect_fail_line 1 "evil=gamma-rays" "$NBDKIT" -U - --filter=evil null 1M evil=gamma-rays --run true
expect_fail_line 1 "evil-probability" "$NBDKIT" -U - --filter=evil null 1M evil-probability=2 --run true
expect_fail_line 1 "evil-seed" "$NBDKIT" -U - --filter=evil null 1M evil-seed=x --run true
pass
