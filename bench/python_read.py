#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# bench/python_read.py URI MODE MIB: reads MIB MiB of the export through whichever nbd module
# is first on sys.path (ours with PYTHONPATH=build/python, else python3-libnbd) and prints the
# MiB/s. MODE pread: h.pread of 1 MiB buffers in a loop; aio: aio_pread into nbd.Buffer
# objects at queue depth 16 (issue 14's two Python rows).
import sys
import time

import nbd

uri, mode, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
size = min(h.get_size(), mib << 20)
MB = 1 << 20
t0 = time.monotonic()
if mode == "pread":
    for off in range(0, size, MB):
        h.pread(MB, off)
else:
    bufs = [nbd.Buffer(MB) for _ in range(16)]
    free = list(range(16))
    busy = {}
    off = 0
    while off < size or busy:
        while free and off < size:
            i = free.pop()
            busy[h.aio_pread(bufs[i], off)] = i
            off += MB
        h.poll(-1)
        for c in [c for c in busy if h.aio_command_completed(c)]:
            free.append(busy.pop(c))
dt = time.monotonic() - t0
h.shutdown()
print(f"{size / MB / dt:.1f}")
