# SPDX-License-Identifier: BSD-3-Clause
# Bad clients for the soak test, in a loop until DEADLINE (a time.time() value): garbage flags,
# bad option magic, oversize options, handshakes cut short, requests with a bad magic, clients
# vanishing in a write payload, and idle clients left to the handshake deadline. None of them
# writes data (a cut-off write payload is never executed), so the soak's data checks stand.
# argv: SOCKET DEADLINE. Prints how many of each it ran.
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from nbdraw import *  # noqa: E402,F403

SOCK, DEADLINE = sys.argv[1], float(sys.argv[2])
counts = {}


def once(kind):
    c = Client(SOCK)
    c.s.settimeout(10)
    if kind == "garbage-flags":
        c.recv(18)
        c.s.sendall(os.urandom(64))
    elif kind == "bad-option-magic":
        c.greeting()
        c.s.sendall(b"NOTMAGIC" + struct.pack(">II", OPT_GO, 0))
    elif kind == "oversize-option":
        c.greeting()
        c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 1 << 30))
    elif kind == "cut-handshake":
        c.greeting()
        c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"xx")
    elif kind == "bad-request-magic":
        c.greeting()
        c.go()
        c.s.sendall(os.urandom(28))
    elif kind == "cut-write":
        c.greeting()
        c.go()
        c.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 0, 65536) + b"x" * 1000)
    elif kind == "random-options":
        c.greeting()
        for _ in range(random.randint(1, 20)):
            p = os.urandom(random.randint(0, 64))
            c.option(random.choice([OPT_LIST, OPT_INFO, OPT_SET_META, OPT_LIST_META, 0x1234]), p)
    # The server hangs up on the bad ones itself; the cut-off and random ones vanish mid-way.
    if kind in ("garbage-flags", "bad-option-magic", "oversize-option", "bad-request-magic"):
        try:
            while c.s.recv(65536):
                pass
        except socket.timeout:
            raise SystemExit("the server did not hang up on a client that sent " + kind)
        except OSError:
            pass
    c.s.close()
    counts[kind] = counts.get(kind, 0) + 1


kinds = ["garbage-flags", "bad-option-magic", "oversize-option", "cut-handshake", "bad-request-magic",
         "cut-write", "random-options"]
idle = []
while time.time() < DEADLINE:
    try:
        once(random.choice(kinds))
    except (OSError, Closed, AssertionError, struct.error):
        counts["refused-early"] = counts.get("refused-early", 0) + 1
    if len(idle) < 20 and random.random() < 0.05:  # never sends anything: the deadline closes it
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(SOCK)
        idle.append(s)
    time.sleep(0.02)
for s in idle:
    s.close()
print("bad clients: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
