#!/usr/bin/env bash
# noparallel filter through our server: the thread model it imposes (server debug line), its
# effect (four 500 ms reads in flight on one connection take 2 s once serialized, not ~1 s),
# multi-conn as Debian's nbdkit shows it, and unknown modes refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit

for m in requests all-requests connections; do
  out=$("$NBDKIT" -v -U - --filter=noparallel memory 1M serialize=$m --run true 2>&1)
  expect_contains "$out" "using thread model: serialize_${m//-/_}" "thread model for serialize=$m"
  ours=$("$NBDKIT" -U - --filter=noparallel memory 1M serialize=$m --run "$NBDINFO \"\$uri\"" | grep multi_conn)
  ref=$("$REF_NBDKIT" -U - --filter=noparallel memory 1M serialize=$m --run "$NBDINFO \"\$uri\"" | grep multi_conn)
  expect_eq "$ours" "$ref" "multi-conn with serialize=$m"
done
expect_contains "$ours" "false" "no multi-conn with serialize=connections"

now() { date +%s.%N; }
copy_time() {  # copy_time FILTER-ARGS...: seconds for 1 MiB in four 256 KiB reads, 500 ms each
  local t0
  t0=$(now)
  timeout 60 "$NBDKIT" -U - "$@" --filter=delay pattern 1M rdelay=500ms \
    --run "$NBDCOPY -C 1 --request-size=262144 \"\$uri\" $T/out.img" || fail "copy with $*"
  cmp -s "$T/out.img" <("$REF_NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" -") || fail "data with $*"
  echo "$(now) - $t0" | bc
}
serial=$(copy_time --filter=noparallel)
echo "serialized: $serial s"
(( $(echo "$serial >= 1.95" | bc) )) || fail "serialize=requests let reads overlap ($serial s)"
# Negative: without the filter the reads overlap.
par=$(copy_time)
echo "parallel: $par s"
(( $(echo "$par < 1.9" | bc) )) || fail "reads did not overlap without the filter ($par s)"

expect_fail_line 1 "unknown noparallel serialize mode" "$NBDKIT" -U - --filter=noparallel null 1M serialize=all \
  --run true
pass
