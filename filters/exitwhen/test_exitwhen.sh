#!/usr/bin/env bash
# exitwhen filter through our server: after the event a connected client keeps reading the
# right bytes, new clients are refused before the greeting, and the server exits with status 0
# when the client leaves; idle, it exits within the poll interval; a closed pipe and an exiting
# process are events too. Without an event the server keeps running (negative case).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer python3
GREET="/usr/bin/python3 $NBD_SRC/filters/ip/greeting.py"

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

# A connected client while the event happens.
start_server "$T/sock" --filter=exitwhen pattern 1M exit-when-file-created="$T/stop" exit-when-poll=1
srv=${PIDS[-1]}
/usr/bin/python3 - "$T/sock" "$T/stop" "$NBD_SRC/filters/ip/greeting.py" <<'PY' || fail "client during the event"
import nbd, os, struct, subprocess, sys, time
sock, stop, greet = sys.argv[1:4]
h = nbd.NBD(); h.connect_unix(sock)
assert h.pread(8, 8) == struct.pack(">Q", 8)
open(stop, "w").close()
time.sleep(1.5)  # past the poll interval: the server must still be there for us
out = subprocess.run([sys.executable, greet, "unix", sock], capture_output=True, text=True, timeout=30).stdout.strip()
assert out == "closed", "new client after the event: " + out
assert h.pread(8, 4096) == struct.pack(">Q", 4096), "connected client still served"
h.shutdown()
PY
wait_exit "$srv" 20; expect_eq "$st" 0 "exit status once the last client left"

# Idle: exits within the poll interval; the file existing at start also counts.
start_server "$T/sock2" --filter=exitwhen pattern 1M exit-when-file-deleted="$T/keep" exit-when-poll=1
srv=${PIDS[-1]}
wait_exit "$srv" 20; expect_eq "$st" 0 "exit-when-file-deleted of a file that never existed"

# Pipe closed (fd 7 is the read end; the writer is a sleep we kill) and process exits.
exec 7< <(exec sleep 300)
writer=$!
sleep 30 & sleeper=$!; PIDS+=($sleeper)
start_server "$T/sock3" --filter=exitwhen pattern 1M exit-when-pipe-closed=7 exit-when-poll=1
srv=${PIDS[-1]}
start_server "$T/sock4" --filter=exitwhen pattern 1M exit-when-process-exits=$sleeper exit-when-poll=1
srv4=${PIDS[-1]}
exec 7<&-
out=$("$NBDINFO" --size "nbd+unix:///?socket=$T/sock3") || fail "nbdinfo before the pipe closes"
expect_eq "$out" 1048576 "size before the pipe closes"
wait_exit "$srv" 1; expect_eq "$st" running "still running while the pipe is open"
kill "$writer"
wait_exit "$srv" 20; expect_eq "$st" 0 "exit after the pipe closed"
wait_exit "$srv4" 1; expect_eq "$st" running "still running while the process lives"
kill "$sleeper"
wait_exit "$srv4" 20; expect_eq "$st" 0 "exit after the process exited"

expect_fail_line 1 "exit-when-poll=0" "$NBDKIT" -U - --filter=exitwhen null 1M exit-when-poll=0 --run true
expect_fail_line 1 "exit-when-pipe-closed=99" "$NBDKIT" -U - --filter=exitwhen null 1M exit-when-pipe-closed=99 --run true
expect_fail_line 1 "exit-when-process-exits=x" "$NBDKIT" -U - --filter=exitwhen null 1M exit-when-process-exits=x --run true
pass
