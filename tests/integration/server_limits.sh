#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Resource limits: options per handshake, the handshake deadline (--timeout) against idle and
# trickling clients, and the memory held for a client that never reads its replies.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

start_server "$T/sock" --timeout=2 -t 16 --filter=delay pattern 256M rdelay=20ms
/usr/bin/python3 "$NBD_SRC/tests/integration/server_limits.py" "$T/sock" "$(cat "$T/sock.pid")" $((256 << 20)) ||
  fail "resource limit cases"
kill -0 "${PIDS[0]}" || fail "server died"

# Out of file descriptors: accept fails with EMFILE while the listener stays readable. The server
# must neither spin (it used to poll and fail accept at 100% CPU) nor drop the waiting clients:
# one log line, next to no CPU, and the clients are served once descriptors are free again.
rm -f "$T/fds.sock" "$T/fds.sock.pid"
(ulimit -n 40; exec "$NBDKIT" -f -U "$T/fds.sock" -P "$T/fds.sock.pid" memory 1M) 2>"$T/fds.log" &
PIDS+=($!)
wait_for_file "$T/fds.sock.pid"
fds_pid=$(cat "$T/fds.sock.pid")
/usr/bin/python3 - "$T/fds.sock" "$fds_pid" <<'PY' || fail "EMFILE case"
import socket, sys, time
path, pid = sys.argv[1], sys.argv[2]
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
held = []
for _ in range(60):
    s = socket.socket(socket.AF_UNIX); s.connect(path); held.append(s)
time.sleep(0.5)
t0 = ticks(); time.sleep(2); used = ticks() - t0
if used > 40:
    sys.exit(f"server spun while out of fds: {used} ticks in 2 s")
for s in held: s.close()
PY
kill -0 "$fds_pid" || fail "server died out of fds"
out=$("$NBDINFO" --size "nbd+unix:///?socket=$T/fds.sock") || fail "no service after fds were freed"
expect_eq "$out" 1048576 "size after EMFILE"
n=$(grep -c "accept: Too many open files" "$T/fds.log")
expect_eq "$n" 1 "EMFILE log lines"

# Negative: --timeout takes a duration, and says so.
out=$("$NBDKIT" --timeout=soon memory 1M 2>&1) && fail "--timeout=soon accepted"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && grep -q "timeout" <<<"$out" || fail "--timeout=soon: $out"
pass
