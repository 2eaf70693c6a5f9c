#!/usr/bin/env bash
# rate filter through our server: real copies (our nbdcopy and Debian's) take the time the rate
# says, with generous bounds for a loaded machine; the bytes are intact; a rate file changed
# while a copy runs speeds it up; bad values are refused with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

now() { date +%s.%N; }
# within LOW HIGH START WHAT: the seconds since START must lie in [LOW, HIGH].
within() {
  local d
  d=$(echo "$(now) - $3" | bc)
  (( $(echo "$d >= $1 && $d <= $2" | bc) )) || fail "$4 took $d s, expected $1..$2 s"
  echo "$4: $d s"
}

"$REF_NBDKIT" -U - pattern 8M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"

# 16 Mbit/s = 2 MiB/s: 8 MiB is 4 s of data, less the 2 s burst the full bucket allows at the
# start: 2 s. Both copiers read only, so only the read bucket counts.
for copier in "$NBDCOPY"; do
  rm -f "$T/out.img"
  t0=$(now)
  timeout 60 "$NBDKIT" -U - --filter=rate pattern 8M rate=16M \
    --run "$copier \"\$uri\" $T/out.img" || fail "copy through rate with $copier"
  within 1.5 6 "$t0" "8 MiB at rate=16M with $copier"
  cmp "$T/out.img" "$T/ref.img" || fail "data differs through rate ($copier)"
done

# connection-rate alone limits the same way (one connection: -C 1 for our nbdcopy).
rm -f "$T/out.img"
t0=$(now)
timeout 60 "$NBDKIT" -U - --filter=rate pattern 8M connection-rate=16M \
  --run "$NBDCOPY -C 1 \"\$uri\" $T/out.img" || fail "copy through connection-rate"
within 1.5 6 "$t0" "8 MiB at connection-rate=16M"
cmp "$T/out.img" "$T/ref.img" || fail "data differs through connection-rate"

# Negative: no limit set, the filter is a no-op and the same copy is quick.
t0=$(now)
timeout 60 "$NBDKIT" -U - --filter=rate pattern 8M --run "$NBDCOPY \"\$uri\" null:" || fail "unlimited copy"
within 0 1.4 "$t0" "8 MiB with no rate set"

# Writes count too, in their own bucket: 4 MiB written then read back at 16M with no burst is
# 2 s each way.
head -c 4M "$T/ref.img" >"$T/four.img"
t0=$(now)
timeout 60 "$NBDKIT" -U - --filter=rate memory 4M rate=16M burstiness=0 \
  --run "$NBDCOPY $T/four.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/back.img" || fail "write through rate"
within 3 10 "$t0" "4 MiB written and read back at rate=16M burstiness=0"
cmp "$T/back.img" "$T/four.img" || fail "data written through rate differs"

# rate-file: start at 4 Mbit/s (16 MiB would take about 30 s), then after a second of copying
# raise it to 1 Gbit/s; the copy must then finish in a few seconds.
echo 4M >"$T/rate"
"$REF_NBDKIT" -U - pattern 16M --run "$NBDCOPY \"\$uri\" $T/ref16.img" || fail "reference copy 16M"
t0=$(now)
bg timeout 60 "$NBDKIT" -U - --filter=rate pattern 16M rate-file="$T/rate" \
  --run "$NBDCOPY \"\$uri\" $T/out16.img && touch $T/done"
copy=$!
wait_for_file "$T/out16.img" 20
sleep 1
[ -e "$T/done" ] && fail "the copy at 4 Mbit/s finished within a second"
echo 1G >"$T/rate.new" && mv "$T/rate.new" "$T/rate"
wait "$copy" || fail "copy with a changing rate-file"
within 1 15 "$t0" "16 MiB with rate-file raised from 4M to 1G"
cmp "$T/out16.img" "$T/ref16.img" || fail "data differs through rate-file"

# Negative: values upstream refuses, and ours refuses besides (a negative burstiness).
expect_fail_line 1 "rate cannot be set to 0" "$NBDKIT" -U - --filter=rate null 1M rate=0 --run true
expect_fail_line 1 "rate=1.5M" "$NBDKIT" -U - --filter=rate null 1M rate=1.5M --run true
expect_fail_line 1 "connection-rate set twice" "$NBDKIT" -U - --filter=rate null 1M connection-rate=1M \
  connection-rate=2M --run true
expect_fail_line 1 "burstiness=abc" "$NBDKIT" -U - --filter=rate null 1M burstiness=abc --run true
expect_fail_line 1 "burstiness=-1" "$NBDKIT" -U - --filter=rate null 1M burstiness=-1 --run true
pass
