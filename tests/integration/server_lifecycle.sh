#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Process lifecycle: --exit-with-parent, the handshake --timeout, a preconnect/handshake that
# never finishes costs no plugin open, and SIGINT/SIGTERM with clients connected.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo

# wait_gone PID: poll until the process no longer exists (fails after 20 s).
wait_gone() {
  local i
  for ((i = 0; i < 400; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  fail "process $1 is still running"
}

# --exit-with-parent: the server goes when the shell that started it goes.
bash -c "\"$NBDKIT\" --exit-with-parent -U \"$T/p.sock\" -P \"$T/p.pid\" null & while [ ! -e \"$T/p.pid\" ]; do sleep 0.05; done"
wait_for_file "$T/p.pid"
wait_gone "$(cat "$T/p.pid")"

# --timeout: a client that never finishes the handshake is dropped; others are served.
start_server "$T/t.sock" --timeout=1 null 1M
/usr/bin/python3 - "$T/t.sock" <<'PY' || fail "handshake timeout"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.recv(18)                      # the greeting, then silence
assert s.recv(1) == b"", "server should close an idle handshake"
PY
expect_eq "$($REF_NBDINFO --size "nbd+unix:///?socket=$T/t.sock")" 1048576 "served after a timeout"

# SIGINT with a client in the middle of a connection: clean exit, socket removed.
"$NBDKIT" -f -U "$T/i.sock" -P "$T/i.pid" memory 1M & ipid=$!
wait_for_file "$T/i.pid"
coproc CLIENT { /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(18)
print("ready", flush=True); sys.stdin.read()' "$T/i.sock"; }
read -r ready <&"${CLIENT[0]}"
expect_eq "$ready" "ready" "client connected"
kill -INT "$ipid"
wait "$ipid"; expect_eq "$?" 0 "exit status after SIGINT"
[ -e "$T/i.sock" ] && fail "socket left behind after SIGINT"
eval "exec ${CLIENT[1]}>&-"

# SIGTERM while the delay filter sleeps in a request: the sleep is cut short (ESHUTDOWN), so
# the server exits cleanly instead of waiting for the delay or giving up on its clients.
"$NBDKIT" -f -U "$T/d.sock" -P "$T/d.pid" --filter=delay memory 1M rdelay=60 2>"$T/d.err" & dpid=$!
wait_for_file "$T/d.pid"
coproc SLOW { /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_unix(sys.argv[1])
h.aio_pread(bytearray(512), 0)   # libnbd sends it at once
print("sent", flush=True)
sys.stdin.read()' "$T/d.sock" 2>/dev/null; }
read -r sent <&"${SLOW[0]}"
expect_eq "$sent" "sent" "slow read in flight"
sleep 0.5
kill -TERM "$dpid"
wait "$dpid"; expect_eq "$?" 0 "exit status with a request asleep in the delay filter"
grep -q "did not finish" "$T/d.err" && fail "shutdown waited for the sleeping request: $(cat "$T/d.err")"
eval "exec ${SLOW[1]}>&-"
pass
