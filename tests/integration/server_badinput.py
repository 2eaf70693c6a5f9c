# SPDX-License-Identifier: BSD-3-Clause
# Bad input against our server: every case checks the exact NBD reply (or that the connection
# closed), and after each one a normal client must still be served. argv: SOCKET
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdraw import *  # noqa: E402,F403

SOCK = sys.argv[1]
SIZE = 64 << 20


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)


def still_serving():
    c = Client(SOCK)
    c.greeting()
    size, _ = c.go()
    check(size == SIZE, "normal client sees the export")
    check(c.pwrite(4096, b"still-alive") == 0, "normal client can write")
    err, data, _ = c.pread(4096, 11)
    check(err == 0 and data == b"still-alive", "normal client reads back what it wrote")
    c.request(CMD_DISC, 0, 0)


def expect_closed(c, what):
    check(c.closed(), what + ": server closes the connection")
    still_serving()


# 1. Garbage instead of client flags and options.
c = Client(SOCK)
c.recv(18)
c.s.sendall(b"\xff" * 64)
expect_closed(c, "garbage client flags")

# 2. Bad option magic.
c = Client(SOCK)
c.greeting()
c.s.sendall(b"NOTMAGIC" + struct.pack(">II", OPT_GO, 0))
expect_closed(c, "bad option magic")

# 3. Option longer than the server accepts.
c = Client(SOCK)
c.greeting()
c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 1 << 20))
expect_closed(c, "oversize option")

# 4. Truncated handshake: the client vanishes half-way through an option.
c = Client(SOCK)
c.greeting()
c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"xx")
c.s.close()
still_serving()

# 5. Unknown option: ERR_UNSUP and the haggling continues; LIST lists the default export.
c = Client(SOCK)
c.greeting()
check(c.simple_option(1234) == REP_ERR_UNSUP, "unknown option gets NBD_REP_ERR_UNSUP")
check(c.simple_option(OPT_STRUCTURED_REPLY, b"x") == REP_ERR_INVALID, "STRUCTURED_REPLY with payload is invalid")
c.option(OPT_LIST)
_, typ, data = c.opt_reply()
check(typ == REP_SERVER and data[:4] == b"\0\0\0\0", "LIST names the default export")
check(c.opt_reply()[1] == REP_ACK, "LIST ends with ACK")
size, flags = c.go()
check(size == SIZE, "GO after an unknown option works")

# 6. Invalid requests get the error the spec names; the connection goes on.
cases = [
    ("read past the end", (CMD_READ, SIZE - 1, 2, 0), EINVAL),
    ("read with offset overflow", (CMD_READ, (1 << 64) - 1, 2, 0), EINVAL),
    ("zero-length read", (CMD_READ, 0, 0, 0), EINVAL),
    ("unknown command", (42, 0, 512, 0), EINVAL),
    ("unknown flag", (CMD_READ, 0, 512, 1 << 10), EINVAL),
    ("FUA on read", (CMD_READ, 0, 512, FLAG_FUA), EINVAL),
    ("REQ_ONE on trim", (CMD_TRIM, 0, 512, FLAG_REQ_ONE), EINVAL),
    ("zero past the end", (CMD_ZERO, SIZE, 512, 0), ENOSPC),
    ("flush with a length", (CMD_FLUSH, 0, 1, 0), EINVAL),
    ("read larger than the maximum", (CMD_READ, 0, (32 << 20) + 512, 0), EINVAL),
]
for what, (cmd, off, ln, fl), want in cases:
    c.request(cmd, off, ln, fl)
    err = c.reply()[0]
    check(err == want, "%s: expected error %d, got %d" % (what, want, err))
# A write past the end: its payload is consumed, ENOSPC, and the stream stays in sync.
check(c.pwrite(SIZE - 2, b"abcd") == ENOSPC, "write past the end gives ENOSPC")
check(c.pwrite(0, b"x" * ((32 << 20) + 512)) == EINVAL, "write larger than the maximum gives EINVAL")
check(c.pwrite(0, b"in-sync") == 0, "stream in sync after a rejected write")
err, data, _ = c.pread(0, 7)
check(err == 0 and data == b"in-sync", "data after rejected requests")
c.request(CMD_DISC, 0, 0)

# 7. Garbage in the transmission phase: the connection closes.
c = Client(SOCK)
c.greeting()
c.go()
c.s.sendall(b"\x00" * 28)
expect_closed(c, "bad request magic")

# 8. A client vanishing in the middle of a write payload.
c = Client(SOCK)
c.greeting()
c.go()
c.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 0, 65536) + b"x" * 100)
c.s.close()
still_serving()

# 9. Extended headers: 64-bit requests, extended reply chunks, BLOCK_STATUS_EXT.
c = Client(SOCK)
c.greeting()
size, flags = c.go(extended=True)
check(size == SIZE, "extended: size")
c.request(CMD_WRITE, 8192, 5, FLAG_PAYLOAD_LEN, b"hello")
check(c.reply()[0] == 0, "extended: write with PAYLOAD_LEN")
err, data, _ = c.pread(8192, 5)
check(err == 0 and data == b"hello", "extended: read back")
c.request(CMD_BLOCK_STATUS, 0, SIZE)
err, _, chunks = c.reply()
check(err == 0 and chunks[0][0] == 6, "extended: block status uses BLOCK_STATUS_EXT")
ctx_id, count = struct.unpack(">II", chunks[0][1][:8])
total = sum(struct.unpack(">Q", chunks[0][1][8 + 16 * i:16 + 16 * i])[0] for i in range(count))
check(total == SIZE and len(chunks[0][1]) == 8 + 16 * count, "extended: descriptors cover the export")
c.request(CMD_READ, SIZE, 1)
err, _, chunks = c.reply()
check(err == EINVAL and chunks[0][0] == 0x8001, "extended: errors are ERROR chunks")
# A block status with a payload the server did not offer: EINVAL, payload skipped, in sync.
c.request(CMD_BLOCK_STATUS, 0, 16, FLAG_PAYLOAD_LEN, struct.pack(">QII", 4096, 1, 1))
check(c.reply()[0] == EINVAL, "extended: unexpected block status payload is rejected")
err, data, _ = c.pread(8192, 5)
check(err == 0 and data == b"hello", "extended: stream in sync after a rejected payload")
c.request(CMD_DISC, 0, 0)

# 10. Simple (no structured replies) client: a read error is a simple reply with no data.
c = Client(SOCK)
c.greeting()
c.go(structured=False)
err, data, _ = c.pread(SIZE, 1)
check(err == EINVAL and data == b"", "simple reply error")
err, data, _ = c.pread(4096, 11)
check(err == 0 and data == b"still-alive", "simple reply read")

still_serving()
print("badinput: all cases passed")
