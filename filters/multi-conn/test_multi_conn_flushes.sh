#!/usr/bin/env bash
# multi-conn filter through our server: for the same client sequences over several connections,
# the requests that reach the plugin on each connection (seen by the log filter below) are those
# Debian's nbdkit sends, in every mode and dirty-tracking level.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit nbdinfo
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# A writable sh plugin whose flush, FUA, multi-conn and thread model follow the environment.
plug=$NBD_SRC/filters/multi-conn/test_plugin.sh

# seq.py URI OPS: opens one connection per digit in OPS (in order of first appearance), then
# runs each op: w write, W FUA write, r read, z zero, t trim, f flush.
cat >"$T/seq.py" <<'PY'
import nbd, sys
uri, ops = sys.argv[1], sys.argv[2].split()
hs = {}
for o in ops:
    if o[0] not in hs:
        hs[o[0]] = nbd.NBD()
        hs[o[0]].connect_uri(uri)
for o in ops:
    h, c = hs[o[0]], o[1]
    if c == 'w': h.pwrite(b'x' * 512, 0)
    elif c == 'W': h.pwrite(b'x' * 512, 0, nbd.CMD_FLAG_FUA)
    elif c == 'r': h.pread(512, 0)
    elif c == 'z': h.zero(512, 0)
    elif c == 't': h.trim(512, 0)
    elif c == 'f': h.flush()
for h in hs.values(): h.shutdown()
PY
# calls SERVER "FILTER-ARGS" OPS ENV PLUGIN...: the requests the plugin saw, per connection.
calls() {
  local bin=$1 args=$2 ops=$3 e=$4; shift 4
  rm -f "$T/log"
  env $e timeout 20 "$bin" -U - --filter=multi-conn --filter=log "$@" logfile="$T/log" $args \
    --run "/usr/bin/python3 $T/seq.py \"\$uri\" '$ops'" || fail "$bin $args '$ops': the client failed"
  grep -v ' \.\.\.[A-Z]' "$T/log" | grep -oE 'connection=[0-9]+ (Read|Write|Flush|Zero|Trim)' |
    sed -E 's/connection=([0-9]+) /\1/' | tr '\n' ';'
}
n=0
for mode in emulate plugin unsafe disable; do
  for track in connection fast off; do
    for ops in "2r 1w 1f 2f" "1W 2r 2f" "1z 2t 3r 2f 1f"; do
      a="multi-conn-mode=$mode multi-conn-track-dirty=$track"
      ours=$(calls "$NBDKIT" "$a" "$ops" X=1 memory 1M)
      ref=$(calls "$REF_NBDKIT" "$a" "$ops" X=1 memory 1M)
      [[ "$ref" == *1* ]] || fail "Debian's log is empty for '$a' '$ops'"
      expect_eq "$ours" "$ref" "memory, $a, '$ops'"
      n=$((n + 1))
    done
  done
done
# Over the sh plugin (no multi-conn, no FUA) the slower sequences, fewer of them.
for a in "multi-conn-mode=plugin" "multi-conn-mode=plugin multi-conn-track-dirty=fast" "" \
         "multi-conn-mode=disable"; do
  for ops in "1w 1f 2f"; do
    ours=$(calls "$NBDKIT" "$a" "$ops" X=1 sh "$plug")
    ref=$(calls "$REF_NBDKIT" "$a" "$ops" X=1 sh "$plug")
    expect_eq "$ours" "$ref" "sh plugin, '$a', '$ops'"
    n=$((n + 1))
  done
done
[ "$n" -eq 40 ] || fail "ran $n flush cases"
expect_eq "$(calls "$NBDKIT" multi-conn-mode=emulate "1w 2r 3w 2f" X=1 memory 1M)" \
  "1Write;2Read;3Write;1Flush;2Flush;3Flush;" "emulate: one flush reaches every dirty connection"
expect_eq "$(calls "$NBDKIT" multi-conn-mode=disable "1w 2r 3w 2f" X=1 memory 1M)" "1Write;2Read;3Write;2Flush;" \
  "disable: a flush stays on its connection"

pass
