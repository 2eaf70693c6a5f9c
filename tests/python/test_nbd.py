# SPDX-License-Identifier: BSD-3-Clause
# The Python module nbd (bindings/python) against our nbdkit: each call python3-libnbd's
# scripts use, with content checks and the errors they raise. Run by ctest (python_module):
# python3 -m pytest tests/python, with build/python on PYTHONPATH and NBD_BIN set.
import errno
import os
import subprocess

import pytest

import nbd

BIN = os.environ.get("NBD_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
NBDKIT = os.path.join(BIN, "nbdkit")


@pytest.fixture
def server(tmp_path):
    """Starts our nbdkit with the given arguments on a Unix socket; yields a function that
    returns the URI. Every server is stopped at the end."""
    procs = []

    def start(*args):
        sock = str(tmp_path / f"s{len(procs)}.sock")
        pidfile = sock + ".pid"
        p = subprocess.Popen([NBDKIT, "-f", "-U", sock, "-P", pidfile, *args])
        procs.append(p)
        for _ in range(500):
            if os.path.exists(pidfile):
                break
            assert p.poll() is None, "nbdkit exited"
            subprocess.run(["sleep", "0.01"])
        return f"nbd+unix:///?socket={sock}"

    yield start
    for p in procs:
        p.terminate()
        p.wait()


def connect(uri, *contexts):
    h = nbd.NBD()
    for c in contexts:
        h.add_meta_context(c)
    h.connect_uri(uri)
    return h


def test_read_write_zero_trim_flush(server):
    h = connect(server("memory", "1M"))
    assert h.get_size() == 1048576
    assert h.pread(16, 0) == b"\0" * 16
    assert type(h.pread(1, 0)) is bytearray  # as python3-libnbd
    h.pwrite(b"hello, world", 100)
    h.pwrite(bytearray(b"XY"), 100, nbd.CMD_FLAG_FUA)
    assert h.pread(12, 100) == b"XYllo, world"
    h.zero(4, 102)
    assert h.pread(12, 100) == b"XY\0\0\0\0 world"
    h.trim(65536, 0)
    h.flush()
    h.cache(4096, 0)
    assert h.pread(12, 100) == b"\0" * 12
    assert not h.is_read_only() and h.can_trim() and h.can_zero() and h.can_flush() and h.can_multi_conn()
    h.shutdown()


def test_errors(server):
    h = connect(server("-r", "memory", "1M"))
    with pytest.raises(nbd.Error) as e:
        h.pread(16, 1 << 30)
    assert e.value.errnum == errno.EINVAL and e.value.errno == "EINVAL"
    assert "EINVAL" in str(e.value) and e.value.string
    with pytest.raises(nbd.Error) as e:
        h.pwrite(b"x", 0)
    assert e.value.errnum in (errno.EPERM, errno.EROFS, errno.EINVAL)
    with pytest.raises(nbd.Error):
        nbd.NBD().connect_uri("nbd+unix:///?socket=/nonexistent/socket")
    with pytest.raises(nbd.Error):
        nbd.NBD().connect_uri("not a uri")


def test_block_status_and_structured_read(server):
    h = connect(server("data", "( 0x11 )*65536 @1048576 1", "size=4M"), nbd.CONTEXT_BASE_ALLOCATION)
    assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    seen = []

    def extent(ctx, offset, entries, err):
        assert isinstance(err.value, int)
        seen.append((ctx, offset, entries))
        return 0

    h.block_status(4 << 20, 0, extent)
    ctx, off, entries = seen[0]
    assert ctx == "base:allocation" and off == 0
    assert entries[:4] == [65536, 0, 983040, 3]
    chunks = []

    def chunk(buf, offset, status, err):
        chunks.append((bytes(buf[:1]), offset, len(buf), status))
        return 0

    data = h.pread_structured(1 << 20, 0, chunk)
    assert data == b"\x11" * 65536 + b"\0" * (983040)
    assert chunks == [(b"\x11", 0, 65536, nbd.READ_DATA), (b"\0", 65536, 983040, nbd.READ_HOLE)]
    # A callback that fails (or raises) fails the read.
    with pytest.raises(nbd.Error):
        h.pread_structured(4096, 0, lambda *a: -1)


def test_aio_with_buffers(server):
    h = connect(server("memory", "1M"))
    w = nbd.Buffer.from_bytearray(b"ABCD" * 1024)
    done = []
    c1 = h.aio_pwrite(w, 8192, lambda err: done.append(("w", err.value)) or 1)
    while h.aio_in_flight():
        h.poll(-1)
    assert done == [("w", 0)] and c1 > 0
    r = nbd.Buffer(4096)
    cookie = h.aio_pread(r, 8192)
    while not h.aio_command_completed(cookie):
        h.poll(-1)
    assert r.to_bytearray() == bytearray(b"ABCD" * 1024) and r.size() == 4096 and not r.is_zero()
    assert nbd.Buffer(8).is_zero()
    # Many in flight at once, completed out of order or not, all retire.
    bufs = [nbd.Buffer(512) for _ in range(16)]
    cookies = [h.aio_pread(b, 8192 + 512 * i) for i, b in enumerate(bufs)]
    assert h.aio_in_flight() > 0 or all(h.aio_command_completed(c) for c in cookies)
    while h.aio_in_flight():
        h.poll(-1)
    assert all(h.aio_command_completed(c) for c in cookies)
    assert bufs[3].to_bytearray()[:4] == b"ABCD"
    assert h.aio_command_completed(123456) is False  # unknown: "not completed", as python3-libnbd


def test_opt_mode_and_list(server):
    uri = server("memory", "1M")
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(uri)
    assert h.aio_is_negotiating()
    names = []
    assert h.opt_list(lambda name, desc: names.append(name)) == 1
    assert names == [""]
    h.opt_go()
    assert h.aio_is_ready() and h.get_size() == 1048576
    assert h.get_protocol() == "newstyle-fixed"


def test_aio_opt_and_debug_callback(server):
    uri = server("memory", "1M")
    h = nbd.NBD()
    lines = []
    h.set_debug_callback(lambda ctx, msg: lines.append((ctx, msg)))
    h.set_debug(True)
    h.set_opt_mode(True)
    h.connect_uri(uri)
    names, done = [], []
    h.aio_opt_list(lambda name, desc: names.append(name), lambda err: done.append(err.value) or 1)
    while not done:
        h.poll(-1)
    assert names == [""] and done == [0]
    done = []
    h.aio_opt_go(lambda err: done.append(err.value) or 1)
    while not h.aio_is_ready():
        h.poll(-1)
    assert done == [0] and h.get_size() == 1048576
    assert lines and lines[0][0] == "nbd_connect_uri"
    h.clear_debug_callback()
    n = len(lines)
    h.pread(512, 0)
    assert len(lines) == n  # cleared: nothing more arrives
    # Negative: a second aio option on a ready handle is refused.
    with pytest.raises(nbd.Error):
        h.aio_opt_info()


def test_uri_allow_and_kill_subprocess(server):
    uri = server("memory", "1M")
    h = nbd.NBD()
    h.set_uri_allow_transports(nbd.ALLOW_TRANSPORT_TCP)
    with pytest.raises(nbd.Error):
        h.connect_uri(uri)  # a Unix socket URI
    h = nbd.NBD()
    h.set_uri_allow_tls(nbd.TLS_REQUIRE)
    with pytest.raises(nbd.Error):
        h.connect_uri(uri)  # nbd+unix: is not TLS
    h = nbd.NBD()
    h.connect_command([NBDKIT, "-s", "pattern", "1M"])
    h.kill_subprocess(0)
    with pytest.raises(nbd.Error):
        for _ in range(100):  # the server is gone: the connection dies
            h.pread(4096, 0)
    assert h.get_tls_verify_peer() and h.get_pread_initialize() and h.get_request_block_size()


def test_connect_command():
    h = nbd.NBD()
    h.connect_command([NBDKIT, "-s", "--exit-with-parent", "pattern", "1M"])
    assert h.pread(8, 8) == (8).to_bytes(8, "big")
    h.shutdown()


def test_nbdsh(server):
    uri = server("memory", "1M")
    nbdsh = os.path.join(BIN, "nbdsh")
    out = subprocess.run([nbdsh, "-u", uri, "-c", "h.pwrite(b'12345', 0)", "-c", "print(h.pread(5, 0))"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "bytearray(b'12345')\n"
    out = subprocess.run([nbdsh, "--base-allocation", "-u", uri, "-c",
                          "print(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "True\n"
    r = subprocess.run([nbdsh, "-u", uri, "-c", "h.pread(1, 1 << 40)"], capture_output=True, text=True)
    assert r.returncode == 1 and "EINVAL" in r.stderr
    out = subprocess.run(["python3", "-m", "nbd", "-n", "-c", "print(nbd.READ_HOLE)"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "2\n"
    assert "--base-allocation" in subprocess.run([nbdsh, "--long-options"], capture_output=True,
                                                 text=True).stdout


def test_handle_odds_and_ends(server):
    h = nbd.NBD()
    assert h.supports_tls() and h.supports_uri()
    assert h.set_private_data(42) == 0 and h.set_private_data(7) == 42 and h.get_private_data() == 7
    assert h.aio_is_created() and not h.aio_is_ready()
    assert h.connection_state()
    uri = server("memory", "1M")
    h.aio_connect_uri(uri)
    while not h.aio_is_ready():
        assert not h.aio_is_dead()
        h.poll(-1)
    assert h.get_size() == 1048576 and h.aio_get_fd() >= 0
