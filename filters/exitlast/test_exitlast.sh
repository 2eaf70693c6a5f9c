#!/usr/bin/env bash
# exitlast filter through our server: it keeps running before the first client and while one
# remains, and exits with status 0 once the last one disconnects. Without the filter, the
# server keeps running (the negative case).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
require_peer python3

# wait_exit PID SECONDS: polls until PID (a child of this shell) has gone; sets $st to its
# exit status, or to "running". Not in a $(...) subshell: only this shell can reap it.
wait_exit() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      st=$?
      return 0
    fi
    sleep 0.1
  done
  st=running
}

start_server "$T/sock" --filter=exitlast pattern 1M
srv=${PIDS[-1]}
sleep 0.5
kill -0 "$srv" || fail "exited before the first client"
# Two clients: the first leaves while the second is connected; the server must stay.
/usr/bin/python3 - "$T/sock" "$T" <<'PY' || fail "clients"
import nbd, os, struct, sys, time
a = nbd.NBD(); a.connect_unix(sys.argv[1])
b = nbd.NBD(); b.connect_unix(sys.argv[1])
assert a.pread(8, 8) == struct.pack(">Q", 8)
a.shutdown(); del a
time.sleep(0.5)
assert b.pread(8, 16) == struct.pack(">Q", 16), "second client still served"
b.shutdown()
PY
wait_exit "$srv" 20; expect_eq "$st" 0 "exit status after the last client"
[ -e "$T/sock" ] && fail "socket left behind"

# Negative: without the filter the server outlives its client.
start_server "$T/sock2" pattern 1M
srv=${PIDS[-1]}
"$NBDCOPY" "nbd+unix:///?socket=$T/sock2" "$T/out.img" || fail "copy without exitlast"
wait_exit "$srv" 1; expect_eq "$st" running "server without exitlast keeps running"
pass
