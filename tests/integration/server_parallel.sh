#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Thread models: under "parallel" a blocking plugin call moves the connection to worker
# threads, so a quick write overtakes a slow read on the same connection; with -t 1 (one
# request at a time) it cannot. An isolated short stall does not move it. Also 64 concurrent
# clients and 1000 sequential connections.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

cat >"$T/order.py" <<'PY'
import os, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h.pread(512, 0)                      # the first slow call switches the server to workers
done = []
h.aio_pread(bytearray(512), 0, completion=lambda *a: done.append("read") or 1)
h.aio_pwrite(bytearray(b"x" * 512), 4096, completion=lambda *a: done.append("write") or 1)
while len(done) < 2:
    h.poll(-1)
print(",".join(done))
h.shutdown()
PY
out=$("$NBDKIT" -U - --filter=delay memory 1M delay-read=1 --run "/usr/bin/python3 $T/order.py")
expect_eq "$out" "write,read" "parallel: a quick write overtakes a slow read"
out=$("$NBDKIT" -U - -t 1 --filter=delay memory 1M delay-read=1 --run "/usr/bin/python3 $T/order.py")
expect_eq "$out" "read,write" "-t 1: requests run one at a time, in order"

# A client slow to read its replies blocks the server's reply write, not the plugin: the
# connection must stay on the reader thread (no worker threads, no per-worker buffers).
cat >"$T/slowreader.py" <<'PY'
import os, time, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
for round in range(3):
    bufs = [bytearray(1 << 20) for _ in range(8)]
    for i, b in enumerate(bufs):
        h.aio_pread(b, i << 20)
    time.sleep(0.2)                  # replies pile up: the server's write blocks
    while h.aio_in_flight() > 0:
        h.poll(-1)
print(bytes(bufs[1][:8]).hex())
h.shutdown()
PY
out=$("$NBDKIT" -v -U - pattern 64M --run "/usr/bin/python3 $T/slowreader.py" 2>"$T/slow.log")
expect_eq "$out" "0000000000100000" "pattern data read by the slow reader"
if grep -q "handing requests" "$T/slow.log"; then fail "a blocked reply write moved the connection to workers"; fi
grep -q "handing requests" <("$NBDKIT" -v -U - --filter=delay memory 1M delay-read=1 --run "/usr/bin/python3 $T/order.py" 2>&1) ||
  fail "the slow plugin did not move the connection to workers (the check above cannot fail)"

# One short blocking call among fast ones is a hiccup (a page fault, a Go plugin's runtime
# stall) and leaves the connection on the reader; a second within 256 calls moves it.
cat >"$T/hiccup.py" <<'PY'
import os, sys, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
for i in range(int(sys.argv[1])):
    h.pread(512, 0)                  # 5 ms each (rdelay)
for j in range(300):
    h.pwrite(bytes([j % 256]) * 512, 4096)
print(h.pread(512, 4096)[:1].hex())  # slow too, but 300 calls on
h.shutdown()
PY
out=$("$NBDKIT" -v -U - --filter=delay memory 1M rdelay=5ms --run "/usr/bin/python3 $T/hiccup.py 1" 2>"$T/hiccup1.log")
expect_eq "$out" "2b" "the last write read back after one slow read"
if grep -q "handing requests" "$T/hiccup1.log"; then fail "one 5 ms read moved the connection to workers"; fi
out=$("$NBDKIT" -v -U - --filter=delay memory 1M rdelay=5ms --run "/usr/bin/python3 $T/hiccup.py 2" 2>"$T/hiccup2.log")
expect_eq "$out" "2b" "the last write read back after two slow reads"
grep -q "handing requests" "$T/hiccup2.log" || fail "two 5 ms reads in a row did not move the connection to workers"

# 64 concurrent clients, each writing and reading back its own region.
start_server "$T/sock" memory 64M
/usr/bin/python3 - "$T/sock" <<'PY' || fail "concurrent clients"
import sys, threading, nbd
sock = sys.argv[1]
errors = []
def client(i):
    try:
        h = nbd.NBD()
        h.connect_unix(sock)
        data = bytes([i]) * 65536
        h.pwrite(data, i * 1048576)
        h.flush()
        if h.pread(65536, i * 1048576) != data:
            errors.append("client %d read back wrong data" % i)
        h.shutdown()
    except Exception as e:
        errors.append("client %d: %s" % (i, e))
ts = [threading.Thread(target=client, args=(i,)) for i in range(64)]
[t.start() for t in ts]
[t.join() for t in ts]
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
PY

# 1000 sequential connections, each doing a full handshake and one read.
/usr/bin/python3 - "$T/sock" "$NBD_SRC/tests/integration" <<'PY' || fail "sequential connections"
import sys
sys.path.insert(0, sys.argv[2])
from nbdraw import Client, CMD_DISC
for i in range(1000):
    c = Client(sys.argv[1])
    c.greeting()
    c.go()
    err, data, _ = c.pread((i % 64) * 1048576, 1)
    assert err == 0 and data == bytes([i % 64]), "connection %d read %r" % (i, data)
    c.request(CMD_DISC, 0, 0)
    c.s.close()
PY
kill -0 "${PIDS[0]}" || fail "server died"
# The server's file descriptors did not leak: only a handful remain open.
nfds=$(ls /proc/"${PIDS[0]}"/fd | wc -l)
[ "$nfds" -lt 20 ] || fail "server has $nfds open fds after 1064 connections"
pass
