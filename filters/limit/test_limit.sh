#!/usr/bin/env bash
# limit filter through our server: with limit=1 a second client is refused before the greeting
# while the first keeps reading the right bytes; once the first goes a new client gets in.
# limit=2 admits two; bad values are one line naming the parameter.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer python3
GREET="/usr/bin/python3 $NBD_SRC/filters/ip/greeting.py"

# hold SOCK TAG: a Debian libnbd client that connects, says it is ready, reads until $T/TAG.stop
# exists (checking the pattern plugin's bytes), then disconnects.
hold() {
  /usr/bin/python3 - "$1" "$T/$2" <<'PY' &
import nbd, os, struct, sys, time
sock, tag = sys.argv[1], sys.argv[2]
h = nbd.NBD()
h.connect_unix(sock)
open(tag + ".ready", "w").close()
deadline = time.time() + 25
while not os.path.exists(tag + ".stop") and time.time() < deadline:
    assert h.pread(8, 4096) == struct.pack(">Q", 4096), "pattern bytes"
    time.sleep(0.02)
assert h.pread(8, 8192) == struct.pack(">Q", 8192)
open(tag + ".ok", "w").close()
h.shutdown()
PY
  PIDS+=($!)
}
# greets_within SOCK: polls until a new client gets the greeting (the first one's close is
# asynchronous on the server side).
greets_within() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$($GREET unix "$1")" = greeting ] && return 0
    sleep 0.1
  done
  return 1
}

start_server "$T/sock" --filter=limit --filter=log pattern 1M logfile="$T/log"
hold "$T/sock" a
wait_for_file "$T/a.ready" 20
expect_eq "$($GREET unix "$T/sock")" closed "second client refused with limit=1"
"$NBDINFO" --size "nbd+unix:///?socket=$T/sock" >/dev/null 2>&1 && fail "nbdinfo got in past limit=1"
expect_eq "$(grep -c ' Connect ' "$T/log")" 1 "refused clients cost no plugin open"
touch "$T/a.stop"
wait_for_file "$T/a.ok" 20
greets_within "$T/sock" || fail "no room after the first client left"
out=$("$NBDINFO" --size "nbd+unix:///?socket=$T/sock") || fail "nbdinfo after the first client left"
expect_eq "$out" 1048576 "size after the first client left"

start_server "$T/sock2" --filter=limit pattern 1M limit=2
hold "$T/sock2" b
hold "$T/sock2" c
wait_for_file "$T/b.ready" 20
wait_for_file "$T/c.ready" 20
expect_eq "$($GREET unix "$T/sock2")" closed "third client refused with limit=2"
touch "$T/b.stop" "$T/c.stop"
wait_for_file "$T/b.ok" 20
wait_for_file "$T/c.ok" 20

for bad in -1 x 1.5; do
  expect_fail_line 1 "limit=$bad" "$NBDKIT" -U - --filter=limit null 1M "limit=$bad" --run true
done
pass
