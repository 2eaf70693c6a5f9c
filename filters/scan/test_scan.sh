#!/usr/bin/env bash
# scan filter through our server: while a client is connected the whole disk is prefetched in
# order in scan-size pieces (cache requests seen by the log filter below it), the bytes are the
# plugin's, with --filter=cache below a slow plugin the client's later read is served from the
# cache, and where it cannot help (not parallel) it says so; a bad scan-size is one line, exit 1.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer qemu-io

# A client that stays connected for 1 s and reads nothing: the scan runs meanwhile.
idle='qemu-io -r -f raw -c "sleep 1000" "$uri" >/dev/null'
"$NBDKIT" -U - --filter=scan --filter=log pattern 16M logfile="$T/scan.log" --run "$idle" || fail "idle client"
offsets=$(grep -o ' Cache id=[0-9]* offset=0x[0-9a-f]* count=0x[0-9a-f]*' "$T/scan.log" | sed 's/.*offset=//')
want=$(for i in $(seq 0 7); do printf '0x%x count=0x200000\n' $((i * 2097152)); done)
expect_eq "$offsets" "$want" "the whole disk prefetched once, in order, 2M at a time"

"$NBDKIT" -U - --filter=scan --filter=log pattern 1M scan-size=64K logfile="$T/small.log" --run "$idle" || fail "scan-size"
expect_eq "$(grep -c ' Cache id=.* count=0x10000 ' "$T/small.log")" 16 "scan-size=64K: 16 pieces of a 1M disk"

# Over a slow plugin with the cache below: after the scan, reading the disk costs no plugin read.
sum=$("$NBDKIT" -U - pattern 8M --run 'nbdcopy "$uri" - | md5sum')
out=$("$NBDKIT" -U - --filter=scan --filter=cache --filter=log --filter=delay pattern 8M rdelay=5ms \
  logfile="$T/slow.log" --run 'qemu-io -r -f raw -c "sleep 2500" "$uri" >/dev/null && nbdcopy "$uri" - | md5sum')
expect_eq "$out" "$sum" "bytes through scan + cache"
# The scan's reads come through the idle client's context (connection=1); nbdcopy's would be
# connection=2 and up.
grep -q 'connection=1 Read id=' "$T/slow.log" || fail "the scan read nothing through the cache"
! grep -q 'connection=[2-9] Read id=' "$T/slow.log" || fail "nbdcopy's reads reached the plugin: the scan did not fill the cache"

# Negative: under a thread model that is not parallel it says it does nothing.
"$NBDKIT" -U - --filter=scan --filter=noparallel pattern 1M --run 'true' 2>"$T/warn" || fail "noparallel stack"
grep -q "scan: the thread model is not parallel" "$T/warn" || fail "no warning under noparallel: $(cat "$T/warn")"
"$NBDKIT" -U - --filter=scan null 1M scan-size=3M --run true 2>"$T/err" && fail "scan-size=3M accepted"
expect_eq "$(wc -l <"$T/err")" 1 "one line for a bad scan-size"
grep -q "scan-size=3M: must be a power of 2" "$T/err" || fail "bad scan-size message: $(cat "$T/err")"
pass
