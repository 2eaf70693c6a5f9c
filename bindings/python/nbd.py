# SPDX-License-Identifier: BSD-3-Clause
"""nbd: nbdkit++'s NBD client library for Python, with the API of libnbd's Python bindings
(python3-libnbd), so scripts written for it run unchanged: nbd.NBD() handles, nbd.Error,
nbd.Buffer for the aio_* calls, and the constants. `python3 -m nbd` is nbdsh."""

import errno as _errno

import _nbd
from _nbd import Error

Error.string = property(lambda self: self.args[0])
Error.errnum = property(lambda self: self.args[1] if len(self.args) > 1 else 0)
Error.errno = property(lambda self: _errno.errorcode.get(self.errnum))
Error.__str__ = lambda self: f"{self.string} ({self.errno})" if self.errno else self.string

TLS_DISABLE, TLS_ALLOW, TLS_REQUIRE = 0, 1, 2
SIZE_MINIMUM, SIZE_PREFERRED, SIZE_MAXIMUM, SIZE_PAYLOAD = 0, 1, 2, 3
CMD_FLAG_FUA, CMD_FLAG_NO_HOLE, CMD_FLAG_DF, CMD_FLAG_REQ_ONE, CMD_FLAG_FAST_ZERO = 0x01, 0x02, 0x04, 0x08, 0x10
CMD_FLAG_MASK = 0x1f
HANDSHAKE_FLAG_FIXED_NEWSTYLE, HANDSHAKE_FLAG_NO_ZEROES, HANDSHAKE_FLAG_MASK = 0x01, 0x02, 0x03
STRICT_COMMANDS, STRICT_FLAGS, STRICT_BOUNDS, STRICT_ZERO_SIZE, STRICT_ALIGN = 0x01, 0x02, 0x04, 0x08, 0x10
STRICT_MASK = 0x1f
SHUTDOWN_ABANDON_PENDING = SHUTDOWN_MASK = 0x10000
AIO_DIRECTION_READ, AIO_DIRECTION_WRITE, AIO_DIRECTION_BOTH = 1, 2, 3
READ_DATA, READ_HOLE, READ_ERROR = 1, 2, 3
NAMESPACE_BASE = "base:"
CONTEXT_BASE_ALLOCATION = "base:allocation"
STATE_HOLE, STATE_ZERO = 1, 2
ALLOW_TRANSPORT_TCP, ALLOW_TRANSPORT_UNIX, ALLOW_TRANSPORT_VSOCK, ALLOW_TRANSPORT_MASK = 0x01, 0x02, 0x04, 0x07


class Buffer:
    """A buffer that outlives the call it is given to (aio_pread, aio_pwrite): the bytes stay
    in this object, which the command keeps alive until it retires."""

    def __init__(self, len):
        self._ba = bytearray(len)

    @classmethod
    def from_bytearray(cls, ba):
        """A Buffer holding a copy of ba (bytes, bytearray or any buffer)."""
        b = cls(0)
        b._ba = bytearray(ba)
        return b

    from_buffer = from_bytearray

    def to_bytearray(self):
        """A copy of the contents as a bytearray."""
        return bytearray(self._ba)

    def to_buffer(self):
        """A copy of the contents as bytes."""
        return bytes(self._ba)

    def size(self):
        return len(self._ba)

    def __len__(self):
        return len(self._ba)

    def is_zero(self, offset=0, size=-1):
        """True if the bytes from offset (size of them, or to the end) are all zero."""
        if size == -1:
            size = len(self._ba) - offset
        if offset < 0 or size < 0 or offset + size > len(self._ba):
            raise IndexError("range out of the buffer")
        return not any(memoryview(self._ba)[offset:offset + size])


class NBD(_nbd.NBD):
    """A connection to one NBD server (libnbd's handle)."""

    def set_private_data(self, private_data):
        """Stores an int on the handle and returns the previous one (0 at first)."""
        old = getattr(self, "_private", 0)
        self._private = private_data
        return old

    def get_private_data(self):
        return getattr(self, "_private", 0)


if __name__ == "__main__":
    import nbdsh
    nbdsh.shell()
