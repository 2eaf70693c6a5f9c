#!/usr/bin/env bash
# pause filter through our server with Debian's libnbd (python) as the client: a pause is
# acknowledged only after the read in flight has finished, a read sent while paused does not
# complete (nor reach the layers below) until resume, and then returns the right bytes. The
# same script runs against Debian's nbdkit. A held request does not stop the server exiting.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

cat >"$T/pause.py" <<'PY'
import nbd, socket, sys, threading, time
uri, ctl_path, log = sys.argv[1:4]

def wait_until(what, pred, timeout=20):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.02)

def log_text():
    with open(log) as f:
        return f.read()

w = nbd.NBD()
w.connect_uri(uri)
w.pwrite(b"in-flight" * 455 + b"!", 0)
w.pwrite(b"was held" * 512, 4096)
ctl = socket.socket(socket.AF_UNIX)
ctl.settimeout(20)
ctl.connect(ctl_path)

result = {}
def read(key, offset):  # one handle per thread, so neither waits on the other's lock
    h = nbd.NBD()
    h.connect_uri(uri)
    result[key] = h.pread(4096, offset)
    h.shutdown()

# A read in flight (slowed below the filter) when the pause is asked for.
t = threading.Thread(target=read, args=("first", 0))
t.start()
wait_until("the first read to start", lambda: "connection=2 Read" in log_text())
ctl.sendall(b"p")
print("pause:", ctl.recv(1))
print("first read finished before P:", "connection=2 ...Read" in log_text())
t.join(20)
print("first bytes ok:", result.get("first") == b"in-flight" * 455 + b"!")

# A read sent while paused is held: it neither completes nor reaches the log below.
t = threading.Thread(target=read, args=("second", 4096))
t.start()
wait_until("the second client to connect", lambda: "connection=3 Connect" in log_text())
time.sleep(1.5)
print("held while paused:", t.is_alive() and "connection=3 Read" not in log_text())
ctl.sendall(b"r")
print("resume:", ctl.recv(1))
t.join(20)
print("released:", not t.is_alive(), result.get("second") == b"was held" * 512)
ctl.sendall(b"x\n")
print("unknown:", ctl.recv(1))
PY

# run SERVER: the script against SERVER with pause above a log and a delay.
run() {
  local srv=$1 sock=$T/nbd-${1//\//_}.sock
  rm -f "$T/log" "$T/ctl"
  "$srv" -U "$sock" -f -P "$sock.pid" --filter=pause --filter=log --filter=delay memory 1M \
    pause-control="$T/ctl" logfile="$T/log" delay-read=1 &
  PIDS+=($!)
  wait_for_file "$sock.pid" 20
  wait_for_file "$T/ctl" 20
  /usr/bin/python3 "$T/pause.py" "nbd+unix:///?socket=$sock" "$T/ctl" "$T/log" || fail "pause script via $srv"
  kill "$(cat "$sock.pid")"
}
ours=$(run "$NBDKIT")
expect_eq "$ours" "pause: b'P'
first read finished before P: True
first bytes ok: True
held while paused: True
resume: b'R'
released: True True
unknown: b'X'" "pause and resume through our server"
ref=$(run "$REF_NBDKIT")
expect_eq "$ours" "$ref" "the same script through Debian's nbdkit"

# A request held by a pause does not keep the server from exiting on SIGTERM.
sock=$T/exit.sock
rm -f "$T/ctl"
start_server "$sock" --filter=pause memory 1M pause-control="$T/ctl"
wait_for_file "$T/ctl" 20
held=$(/usr/bin/python3 - "$sock" "$T/ctl" <<'PY'
import nbd, socket, sys, threading, time
ctl = socket.socket(socket.AF_UNIX); ctl.settimeout(20); ctl.connect(sys.argv[2])
ctl.sendall(b"p"); assert ctl.recv(1) == b"P"
h = nbd.NBD(); h.connect_uri("nbd+unix:///?socket=" + sys.argv[1])
cookie = h.aio_pread(nbd.Buffer(512), 0)
for _ in range(20):
    h.poll(50)
print("completed" if h.aio_command_completed(cookie) else "held")
PY
) || fail "held read script"
expect_eq "$held" "held" "a read is held while paused"
pid=$(cat "$sock.pid")
kill "$pid"
for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "the server did not exit within 10 s with a request held"
[ -e "$T/ctl" ] && fail "the control socket was left behind"

# Negative: the control socket is required, and must be a usable path; one line each.
expect_fail_line 1 "pause-control" "$NBDKIT" -U - --filter=pause memory 1M --run true
expect_fail_line 1 "pause-control=$T/no/such/dir/ctl" "$NBDKIT" -U - --filter=pause memory 1M \
  pause-control="$T/no/such/dir/ctl" --run true
pass
