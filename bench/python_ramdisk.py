# SPDX-License-Identifier: BSD-3-Clause
# bench/: the python plugin row's script, a 1 GiB RAM disk in upstream's Python plugin API,
# served by our nbdkit's python plugin and by Debian's.
import nbdkit

API_VERSION = 2
disk = bytearray(1 << 30)


def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL


def open(readonly):
    return 1


def get_size(h):
    return len(disk)


def pread(h, buf, offset, flags):
    buf[:] = memoryview(disk)[offset:offset + len(buf)]


def pwrite(h, buf, offset, flags):
    disk[offset:offset + len(buf)] = buf
