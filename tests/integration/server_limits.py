# SPDX-License-Identifier: BSD-3-Clause
# Resource limits of our server (issue: nothing a client sends makes it allocate or wait without
# bound). argv: SOCKET PID SIZE. The server runs with --timeout=2, -t 16 and a read delay, so
# requests go to worker threads. Each case checks what the client sees, and that a normal client
# is still served after it.
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdraw import *  # noqa: E402,F403

SOCK, PID, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
OPT_UNKNOWN = 0x7777


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)
    print("ok: " + what)


def still_serving(what):
    c = Client(SOCK)
    c.greeting()
    size, _ = c.go()
    err, data, _ = c.pread(4096, 16)
    check(size == SIZE and err == 0 and data == struct.pack(">QQ", 4096, 4104), "a normal client is served after " + what)
    c.request(CMD_DISC, 0, 0)


def rss_peak_mib():
    for line in open("/proc/%d/status" % PID):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM")


# 1. Options per handshake: 255 unknown options each get ERR_UNSUP and GO still works ...
c = Client(SOCK)
c.greeting()
for _ in range(255):
    c.option(OPT_UNKNOWN)
types = [c.opt_reply()[1] for _ in range(255)]
check(types == [REP_ERR_UNSUP] * 255, "255 unknown options each answered ERR_UNSUP")
c.option(OPT_GO, struct.pack(">IH", 0, 0))
while True:
    _, typ, _ = c.opt_reply()
    if typ == REP_ACK or typ & 0x80000000:
        break
check(typ == REP_ACK, "the 256th option (GO) is served")
c.request(CMD_DISC, 0, 0)
# ... and 256 options that do not end the handshake are all answered, then the server hangs up.
c = Client(SOCK)
c.greeting()
for _ in range(256):
    c.option(OPT_UNKNOWN)
types = [c.opt_reply()[1] for _ in range(256)]
check(types == [REP_ERR_UNSUP] * 256 and c.closed(), "256 options without GO: answered, then the server hangs up")
still_serving("too many options")

# 2. A client that never finishes the handshake is closed at --timeout (2 s), even when it
#    trickles a byte every 0.25 s; 50 idle ones do not stop others being served meanwhile.
import select  # noqa: E402

idle = [Client(SOCK) for _ in range(50)]
still_serving("50 clients connected and idle")
start = time.monotonic()
t = Client(SOCK)
t.greeting()
trickle = struct.pack(">QII", IHAVEOPT, OPT_GO, 64) + b"\0" * 64
closed_at = None
for b in trickle:
    try:
        t.s.sendall(bytes([b]))
    except OSError:
        closed_at = time.monotonic()
        break
    r, _, _ = select.select([t.s], [], [], 0.25)
    if r and t.closed():
        closed_at = time.monotonic()
        break
check(closed_at is not None, "a trickling client is closed before it finishes")
check(1.5 <= closed_at - start <= 6, "... at the 2 s deadline (%.1f s)" % (closed_at - start))


def hung_up(c):
    """Reads what is left (the greeting) up to EOF; True if the server closed within 10 s."""
    c.s.settimeout(10)
    try:
        while c.s.recv(4096):
            pass
        return True
    except (socket.timeout, ConnectionResetError):
        return False


check(all(hung_up(c) for c in idle), "the 50 idle clients are closed too")
still_serving("the handshake deadline")

# 3. Memory queued for a client that sends 32 MiB reads and never reads the replies: bounded by
#    the in-flight budget (128 MiB: 4 such reads), not 16 worker threads x 32 MiB. Simple
#    replies, so the pattern plugin's bytes are in the server's buffers. Memory is measured in
#    units of what one 32 MiB read costs this build (sanitizers add shadow memory), so the bound
#    holds for plain, ASan and TSan builds alike: ~5 units with the budget, 16 without.
c = Client(SOCK)
c.greeting()
c.go(structured=False)
for _ in range(3):  # a slow read first: the server hands requests to its workers from then on
    check(c.pread(0, 8)[1] == bytes(8), "a small read before")
h0 = rss_peak_mib()
check(len(c.pread(0, 32 << 20)[1]) == 32 << 20, "one 32 MiB read, replies read")
unit = rss_peak_mib() - h0
check(unit >= 16, "one 32 MiB read costs the server %d MiB (at least 16: the bytes were real)" % unit)
before = rss_peak_mib()
for _ in range(64):
    c.request(CMD_READ, 0, 32 << 20)
time.sleep(4)  # the delay filter holds each read 20 ms: every worker has had its chance
growth = rss_peak_mib() - before
check(growth < 9 * unit, "64 unread 32 MiB reads: server peak RSS grew %d MiB, %.1f reads' worth (< 9)"
      % (growth, growth / unit))
# The replies are all there, in order, when the client does read.
got = 0
for _ in range(64):
    err, _, _ = c.reply()
    data = c.recv(32 << 20) if err == 0 else b""
    if got in (0, 63):
        check(err == 0 and len(data) == 32 << 20 and data[:16] == struct.pack(">QQ", 0, 8) and
              data[-8:] == struct.pack(">Q", (32 << 20) - 8), "reply %d: 32 MiB of the pattern" % got)
    got += 1
c.request(CMD_DISC, 0, 0)
still_serving("the unread replies")
