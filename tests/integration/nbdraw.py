# SPDX-License-Identifier: BSD-3-Clause
# A tiny raw-socket NBD client for server tests: it sends exactly the bytes a test asks for
# (garbage, truncated handshakes, bad requests, extended headers) and decodes the answers.
import socket
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLYMAGIC = 0x0003E889045565A9
REQ_MAGIC = 0x25609513
EXT_REQ_MAGIC = 0x21E41C71
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF
EXT_REPLY_MAGIC = 0x6E8A278C

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO = 1, 2, 3, 5, 6, 7
OPT_STRUCTURED_REPLY, OPT_LIST_META, OPT_SET_META, OPT_EXTENDED_HEADERS = 8, 9, 10, 11
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
REP_ERR_UNSUP = 0x80000001
REP_ERR_INVALID = 0x80000003

CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_ZERO, CMD_BLOCK_STATUS = range(8)
FLAG_FUA, FLAG_NO_HOLE, FLAG_DF, FLAG_REQ_ONE, FLAG_FAST_ZERO, FLAG_PAYLOAD_LEN = 1, 2, 4, 8, 16, 32
EPERM, EIO, EINVAL, ENOSPC, ENOTSUP = 1, 5, 22, 28, 95


class Closed(Exception):
    pass


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.extended = False
        self.structured = False
        self.cookie = 0

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise Closed("server closed after %d of %d bytes" % (len(b), n))
            b += c
        return b

    def closed(self):
        """True if the server has closed the connection (reads EOF)."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def greeting(self, cflags=3):
        magic, opt, hflags = struct.unpack(">QQH", self.recv(18))
        assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
        self.s.sendall(struct.pack(">I", cflags))
        return hflags

    def option(self, opt, payload=b""):
        self.s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(payload)) + payload)

    def opt_reply(self):
        magic, opt, typ, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == REPLYMAGIC, "bad option reply magic"
        return opt, typ, self.recv(ln)

    def simple_option(self, opt, payload=b""):
        self.option(opt, payload)
        return self.opt_reply()[1]

    def go(self, name=b"", structured=True, extended=False, meta=True):
        if extended:
            assert self.simple_option(OPT_EXTENDED_HEADERS) == REP_ACK
            self.extended = self.structured = True
        elif structured:
            assert self.simple_option(OPT_STRUCTURED_REPLY) == REP_ACK
            self.structured = True
        if meta and self.structured:
            q = b"base:allocation"
            self.option(OPT_SET_META, struct.pack(">I", len(name)) + name + struct.pack(">II", 1, len(q)) + q)
            while self.opt_reply()[1] != REP_ACK:
                pass
        self.option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        size = flags = None
        while True:
            _, typ, data = self.opt_reply()
            if typ == REP_ACK:
                return size, flags
            if typ == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
                size, flags = struct.unpack(">QH", data[2:12])
            elif typ & 0x80000000:
                raise RuntimeError("GO failed: 0x%x %r" % (typ, data))

    def request(self, cmd, offset, length, flags=0, payload=b""):
        self.cookie += 1
        if self.extended:
            hdr = struct.pack(">IHHQQQ", EXT_REQ_MAGIC, flags, cmd, self.cookie, offset, length)
        else:
            hdr = struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, self.cookie, offset, length)
        self.s.sendall(hdr + payload)
        return self.cookie

    def reply(self):
        """Reads one whole reply; returns (error, data, chunks)."""
        error, data, chunks = 0, b"", []
        while True:
            magic = struct.unpack(">I", self.recv(4))[0]
            if magic == SIMPLE_MAGIC:
                err, cookie = struct.unpack(">IQ", self.recv(12))
                return err, None, chunks
            if magic == STRUCT_MAGIC:
                flags, typ, cookie, ln = struct.unpack(">HHQI", self.recv(16))
            elif magic == EXT_REPLY_MAGIC:
                flags, typ, cookie, off, ln = struct.unpack(">HHQQQ", self.recv(28))
            else:
                raise RuntimeError("bad reply magic 0x%x" % magic)
            body = self.recv(ln)
            chunks.append((typ, body))
            if typ == 1:
                data += body[8:]
            elif typ & 0x8000:
                error = struct.unpack(">I", body[:4])[0]
            if flags & 1:
                return error, data, chunks

    def pread(self, offset, length, flags=0):
        self.request(CMD_READ, offset, length, flags)
        err, data, chunks = self.reply()
        if data is None:  # simple reply: the data follows only on success
            data = self.recv(length) if err == 0 else b""
        return err, data, chunks

    def pwrite(self, offset, data, flags=0):
        self.request(CMD_WRITE, offset, len(data), flags, data)
        return self.reply()[0]
