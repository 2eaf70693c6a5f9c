#!/usr/bin/env bash
# multi-conn filter through our server: the capabilities our nbdinfo --json sees for every mode
# are those Debian's nbdkit shows over the same plugins; data written on one connection and
# flushed on another reads back on a third and through a multi-conn nbdcopy; bad values and an
# emulation the plugin cannot back are refused. (The flushes: test_multi_conn_flushes.sh.)
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
require_peer nbdkit nbdinfo
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# A writable sh plugin whose flush, FUA, multi-conn and thread model follow the environment.
plug=$NBD_SRC/filters/multi-conn/test_plugin.sh

# caps SERVER ENV PLUGIN-ARGS...: multi-conn, flush and FUA as our nbdinfo --json prints them.
caps() {
  local bin=$1 e=$2; shift 2
  env $e timeout 20 "$bin" -U - --filter=multi-conn "$@" --run "$NBDINFO --json \"\$uri\"" 2>/dev/null |
    grep -oE '"can_(multi_conn|flush|fua)": (true|false)' | tr '\n' ' '
}
n=0 refused=
for mode in auto emulate plugin unsafe disable; do
  m=${mode:+multi-conn-mode=$mode}
  for setup in "X=1|memory 1M" "X=1|sh $plug" "MC=1|sh $plug" "NOFLUSH=1 MC=1|sh $plug" \
               "TM=serialize_connections MC=1|sh $plug"; do
    e=${setup%%|*} p=${setup#*|}
    ours=$(caps "$NBDKIT" "$e" $p $m)
    ref=$(caps "$REF_NBDKIT" "$e" $p $m)
    expect_eq "$ours" "$ref" "capabilities with '$e $p $m'"
    n=$((n + 1))
    [ -n "$ref" ] || refused+="$e $m;"
  done
done
[ "$n" -eq 25 ] || fail "ran $n capability cases"
# Only emulation over the plugin without flush serves no export (checked more below).
expect_eq "$refused" "NOFLUSH=1 MC=1 multi-conn-mode=emulate;" "cases where no export was served"
expect_eq "$(caps "$NBDKIT" X=1 sh "$plug" multi-conn-mode=plugin)" \
  '"can_flush": true "can_fua": true "can_multi_conn": false ' "plugin mode over a plugin without multi-conn"
expect_eq "$(caps "$NBDKIT" X=1 sh "$plug")" '"can_flush": true "can_fua": true "can_multi_conn": true ' \
  "auto emulates over a plugin without multi-conn"

# Data: written on one connection, flushed on a second, read on a third (file plugin, emulate).
truncate -s 4M "$T/disk"
cat >"$T/data.py" <<'PY'
import nbd, sys
hs = [nbd.NBD() for _ in range(3)]
for h in hs: h.connect_uri(sys.argv[1])
assert hs[0].can_multi_conn()
hs[0].pwrite(b'multi-conn' * 100, 4096)
hs[1].flush()
assert hs[2].pread(1000, 4096) == b'multi-conn' * 100
PY
timeout 20 "$NBDKIT" -U - --filter=multi-conn file "$T/disk" multi-conn-mode=emulate \
  --run "/usr/bin/python3 $T/data.py \"\$uri\"" || fail "emulate: data written on one connection not read on another"
expect_eq "$(dd if="$T/disk" bs=1 skip=4096 count=10 status=none)" "multi-conn" "bytes in the file"
# nbdcopy uses several connections where multi-conn is advertised.
head -c 3M /dev/urandom >"$T/src"
timeout 20 "$NBDKIT" -U - --filter=multi-conn file "$T/disk" multi-conn-mode=emulate \
  --run "$NBDCOPY --connections=4 $T/src \"\$uri\"" || fail "nbdcopy into the filter failed"
expect_eq "$(head -c 3M "$T/disk" | md5sum)" "$(md5sum <"$T/src")" "nbdcopy's bytes on disk"

# Negative: bad values are one line naming the parameter, exit 1; emulation over a plugin
# without flush serves no export, even read-only (as upstream).
expect_fail_line 1 "multi-conn-mode=sometimes" "$NBDKIT" -U - --filter=multi-conn memory 1M \
  multi-conn-mode=sometimes --run true
expect_fail_line 1 "multi-conn-track-dirty=slow" "$NBDKIT" -U - --filter=multi-conn memory 1M \
  multi-conn-track-dirty=slow --run true
expect_fail_line 1 "multi-conn-exportname=maybe" "$NBDKIT" -U - --filter=multi-conn memory 1M \
  multi-conn-exportname=maybe --run true
for r in "" -r; do
  if NOFLUSH=1 timeout 20 "$NBDKIT" $r -U - --filter=multi-conn sh "$plug" multi-conn-mode=emulate \
    --run "$NBDINFO --size \"\$uri\"" >/dev/null 2>"$T/err"; then
    fail "emulate over a plugin without flush served an export ($r)"
  fi
  grep -q "emulating multi-conn requires the plugin to support flush" "$T/err" || fail "no clear error: $(cat "$T/err")"
done
pass
