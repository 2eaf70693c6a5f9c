#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# A one-connection recording proxy for fuzz/make-corpus.sh: listens on Unix socket LISTEN,
# forwards to Unix socket SERVER, and writes what each side sent to CLIENT_OUT (client bytes)
# and SERVER_OUT (server bytes), each prefixed with its one config byte (CLIENT_CFG, SERVER_CFG).
import os, select, socket, sys

listen, server, client_out, server_out, client_cfg, server_cfg = sys.argv[1:7]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(listen)
ls.listen(1)
ls.settimeout(30)
c, _ = ls.accept()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(server)
sent = {c: bytearray([int(client_cfg, 0)]), s: bytearray([int(server_cfg, 0)])}
peer = {c: s, s: c}
open_ = {c, s}
while open_:
    r, _, _ = select.select(list(open_), [], [], 30)
    if not r:
        sys.exit("record_proxy: no traffic for 30 s")
    for x in r:
        data = x.recv(65536)
        if not data:
            open_.discard(x)
            try:
                peer[x].shutdown(socket.SHUT_WR)
            except OSError:
                pass
            continue
        sent[x] += data
        try:
            peer[x].sendall(data)
        except OSError:  # the other side hung up first (after NBD_OPT_ABORT, say)
            open_.discard(peer[x])
open(client_out, "wb").write(sent[c])
open(server_out, "wb").write(sent[s])
