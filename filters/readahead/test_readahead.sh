#!/usr/bin/env bash
# readahead filter through our server: a sequential copy sends cache (prefetch) requests ahead of
# the reads, seen by the log filter below it, and random reads send none; bytes are the plugin's;
# over a slow plugin with --filter=cache below, a sequential read is faster with it than without.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer qemu-io

sum=$("$NBDKIT" -U - pattern 32M --run 'nbdcopy "$uri" - | md5sum')
out=$("$NBDKIT" -U - --filter=readahead --filter=log --filter=cache pattern 32M logfile="$T/seq.log" \
  --run 'nbdcopy --requests=1 --connections=1 --request-size=65536 "$uri" - | md5sum')
expect_eq "$out" "$sum" "bytes through readahead"
n=$(grep -c ' Cache id=.* count=' "$T/seq.log")
[ "$n" -gt 0 ] || fail "a sequential copy sent no prefetch"
# Each prefetch starts past the read that asked for it: the first read is at 0, no prefetch at 0.
! grep -q ' Cache id=.* offset=0x0 ' "$T/seq.log" || fail "prefetched offset 0"

# Random 64 KiB reads: no prefetch.
cmds=()
for i in $(seq 1 40); do cmds+=(-c "read $(( (i * 7919 % 400) * 65536 )) 65536"); done
"$NBDKIT" -U - --filter=readahead --filter=log --filter=cache pattern 32M logfile="$T/rand.log" \
  --run "qemu-io -r -f raw $(printf "'%s' " "${cmds[@]}") \"\$uri\"" >/dev/null || fail "random reads"
expect_eq "$(grep -c ' Cache id=.* count=' "$T/rand.log")" 0 "prefetches for random reads"

# Slow plugin (10 ms a read): 8 MiB read 64 KiB at a time takes 128 x 10 ms without readahead.
t() {
  local s=$(date +%s%N)
  "$NBDKIT" -U - $1 --filter=cache --filter=delay pattern 8M rdelay=10ms \
    --run 'nbdcopy --requests=1 --connections=1 --request-size=65536 "$uri" null:' || fail "copy with '$1'"
  echo $(( ($(date +%s%N) - s) / 1000000 ))
}
with=$(t --filter=readahead)
without=$(t "")
echo "8 MiB over rdelay=10ms: $with ms with readahead, $without ms without"
[ $((with * 5)) -lt $((without * 4)) ] || fail "readahead did not make the sequential read 1.25x faster ($with ms vs $without ms)"

# Negative: under a thread model that is not parallel it says it does nothing.
"$NBDKIT" -U - --filter=readahead --filter=noparallel pattern 1M --run 'true' 2>"$T/warn" || fail "noparallel stack"
grep -q "readahead: the thread model is not parallel" "$T/warn" || fail "no warning under noparallel: $(cat "$T/warn")"
pass
