#!/usr/bin/env bash
# noparallel filter through our server: the thread model it imposes (server debug line), its
# effect (eight 500 ms reads in flight on one connection take 4 s once serialized, not ~1 s),
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

# copy_time FILTER-ARGS...: seconds nbdcopy takes for 2 MiB in eight 256 KiB reads, 500 ms each
# (timed inside --run, so server start-up under a loaded sanitizer build does not count).
copy_time() {
  timeout 60 "$NBDKIT" -U - "$@" --filter=delay pattern 2M rdelay=500ms \
    --run "t0=\$(date +%s.%N); $NBDCOPY -C 1 --request-size=262144 \"\$uri\" $T/out.img && \
           echo \"\$(date +%s.%N) - \$t0\" | bc > $T/secs" || fail "copy with $*"
  cmp -s "$T/out.img" <("$REF_NBDKIT" -U - pattern 2M --run "$NBDCOPY \"\$uri\" -") || fail "data with $*"
  cat "$T/secs"
}
serial=$(copy_time --filter=noparallel)
echo "serialized: $serial s"
(( $(echo "$serial >= 3.9" | bc) )) || fail "serialize=requests let reads overlap ($serial s)"
# Negative: without the filter the reads overlap: ~1 s (the first read runs on the connection's
# reader thread, which hands the rest to worker threads once it has seen a slow request).
par=$(copy_time)
echo "parallel: $par s"
(( $(echo "$par < 2.5" | bc) )) || fail "reads did not overlap without the filter ($par s)"

expect_fail_line 1 "unknown noparallel serialize mode" "$NBDKIT" -U - --filter=noparallel null 1M serialize=all \
  --run true
pass
