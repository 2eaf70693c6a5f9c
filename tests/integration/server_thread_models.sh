#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# timeout: 120
# The thread model a plugin asks for is kept: under serialize_connections a second client
# waits until the first has gone; under serialize_all_requests no two requests run at once,
# even from two connections, while under parallel they do (the check can fail). And -u/-g:
# the server drops to another user and group after binding its socket, and still serves.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

# serialize_connections: B's handshake completes only after A disconnects.
start_server "$T/sc.sock" eval thread_model='echo serialize_connections' get_size='echo 1048576' \
  pread='head -c $3 /dev/zero'
/usr/bin/python3 - "$T/sc.sock" <<'PY' || fail "serialize_connections"
import nbd, sys, threading, time
sock = sys.argv[1]
a = nbd.NBD()
a.connect_unix(sock)
got = []
def second():
    b = nbd.NBD()
    b.connect_unix(sock)
    got.append(b.pread(512, 0))
    b.shutdown()
t = threading.Thread(target=second)
t.start()
time.sleep(1)
assert not got, "a second client was served while the first was connected"
a.shutdown()
t.join(20)
assert got == [bytes(512)], "the second client was not served after the first left"
PY

# Each pread takes a lock directory for 0.2 s; finding it taken means two requests overlapped.
overlap_run() {  # MODEL
  rm -rf "$T/lock" "$T/overlaps"
  "$NBDKIT" -U - eval thread_model="echo $1" get_size='echo 1048576' \
    pread="mkdir $T/lock 2>/dev/null || echo x >> $T/overlaps; sleep 0.2; rmdir $T/lock 2>/dev/null; head -c \$3 /dev/zero" \
    --run "/usr/bin/python3 $T/two.py" || fail "$1: clients failed"
  [ -e "$T/overlaps" ] && wc -l < "$T/overlaps" || echo 0
}
cat > "$T/two.py" <<'PY'
import nbd, os, threading
def client():
    h = nbd.NBD()
    h.connect_uri(os.environ["uri"])
    for i in range(3):
        h.aio_pread(bytearray(512), i * 512)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    h.shutdown()
ts = [threading.Thread(target=client) for _ in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
expect_eq "$(overlap_run serialize_all_requests)" 0 "serialize_all_requests: requests never overlap"
# The log filter's Ready line shows the model the server runs under (here the plugin's
# stricter one), as upstream's does, not the filter's own parallel.
for m in serialize_requests:2 parallel:3; do
  rm -f "$T/ready.log"
  "$NBDKIT" -U - --filter=log eval thread_model="echo ${m%:*}" get_size='echo 1048576' pread='exit 1' \
    logfile="$T/ready.log" --run true || fail "log filter under ${m%:*}"
  expect_contains "$(head -1 "$T/ready.log")" "Ready thread_model=${m#*:}" "log filter Ready line"
done

n=$(overlap_run parallel)
[ "$n" -gt 0 ] || fail "parallel: two connections never overlapped (the check above cannot fail)"

# A plugin with multi-conn under serialize_connections: not advertised (one connection at a
# time), as Debian's nbdkit; under parallel it is.
for m in serialize_connections:2 parallel:0; do
  start_server "$T/mc-${m%:*}.sock" eval thread_model="echo ${m%:*}" get_size='echo 1048576' \
    pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none' can_multi_conn='exit 0'
  rc=0; "$NBDINFO" --can multi-conn "nbd+unix:///?socket=$T/mc-${m%:*}.sock" || rc=$?
  expect_eq "$rc" "${m#*:}" "nbdinfo --can multi-conn under ${m%:*}"
done

# -u/-g (as root): the running server is nobody:nogroup and still serves.
[ "$(id -u)" = 0 ] || fail "this test runs as root (as CI does)"
chmod 711 "$T"  # nobody must reach its socket and pid file below
mkdir -m 777 "$T/u"
start_server "$T/u/sock" -u nobody -g nogroup memory 1M
pid=$(cat "$T/u/sock.pid")
expect_eq "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" "$(id -u nobody)" "uid after -u"
expect_eq "$(awk '/^Gid:/ {print $2}' /proc/$pid/status)" "$(getent group nogroup | cut -d: -f3)" "gid after -g"
out=$(/usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_unix(sys.argv[1]); h.pwrite(b"hello", 0); print(h.pread(5, 0).decode())' "$T/u/sock")
expect_eq "$out" "hello" "served as nobody"
expect_fail_line 1 "-u no-such-user" "$NBDKIT" -U "$T/u/x.sock" -u no-such-user null
pass
