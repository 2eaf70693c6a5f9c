#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Debian's libnbd (python3-libnbd) against our server: pread/pwrite/zero/trim/flush/cache/
# block_status with content checks, FUA, fast zero, and the negative cases libnbd lets through.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
/usr/bin/python3 -c 'import nbd' 2>/dev/null || fail "python3-libnbd is not installed (scripts/install-deps.sh)"

cat >"$T/t.py" <<'PY'
import os, nbd
h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(os.environ["uri"])
M = 1 << 20
assert h.get_size() == 8 * M
assert h.can_zero() and h.can_trim() and h.can_flush() and h.can_fua() and h.can_cache()
assert h.can_meta_context("base:allocation")
pat = bytes(range(256)) * 256                         # 64 KiB
h.pwrite(pat, 1 * M)
h.pwrite(pat, 2 * M, nbd.CMD_FLAG_FUA)
assert h.pread(65536, 1 * M) == pat
assert h.pread(65536, 2 * M) == pat
assert h.pread(100, 1 * M + 200) == pat[200:300]      # unaligned read
h.zero(4096, 1 * M + 4096)
buf = h.pread(65536, 1 * M)
assert buf[:4096] == pat[:4096] and buf[4096:8192] == b"\0" * 4096 and buf[8192:] == pat[8192:]
h.zero(65536, 2 * M, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(65536, 2 * M) == b"\0" * 65536
h.trim(65536, 1 * M)
h.flush()
h.cache(65536, 0)
# Block status: the memory plugin reports holes where nothing is stored.
h.pwrite(b"\xff" * 65536, 4 * M)
ext = []
h.block_status(8 * M, 0, lambda meta, off, e, err: ext.extend(e) or 0)
total = sum(ext[0::2])
assert total == 8 * M, ext
off = 0
flags_at_4m = None
for i in range(0, len(ext), 2):
    if off <= 4 * M < off + ext[i]:
        flags_at_4m = ext[i + 1]
    off += ext[i]
assert flags_at_4m == 0, ext                          # written data is data
one = []
h.block_status(8 * M, 0, lambda meta, off, e, err: one.extend(e) or 0, nbd.CMD_FLAG_REQ_ONE)
assert len(one) == 2, one
# Negative cases (libnbd's own checks are relaxed so the server must answer).
h2 = nbd.NBD()
h2.set_strict_mode(0)
h2.connect_uri(os.environ["uri"])
for what, fn, want in [
    ("read past end", lambda: h2.pread(2, 8 * M - 1), "EINVAL"),
    ("write past end", lambda: h2.pwrite(b"ab", 8 * M - 1), "ENOSPC"),
    ("fua on read", lambda: h2.pread(1, 0, nbd.CMD_FLAG_FUA), "EINVAL"),
]:
    try:
        fn()
    except nbd.Error as e:
        assert want in str(e) or (e.errnum is not None and os.strerror(e.errnum) in str(e)), (what, str(e))
        assert e.errnum == {"EINVAL": 22, "ENOSPC": 28}[want], (what, e.errnum)
    else:
        raise AssertionError(what + " succeeded")
assert h2.pread(4, 4 * M) == b"\xff" * 4             # the connection goes on
h2.shutdown()
h.shutdown()
print("ok")
PY
out=$("$NBDKIT" -U - memory 8M --run "/usr/bin/python3 $T/t.py")
expect_eq "$out" "ok" "nbdsh operations"

# Read-only export: writes fail with EPERM, reads work.
cat >"$T/ro.py" <<'PY'
import os, nbd
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(os.environ["uri"])
assert h.is_read_only()
try:
    h.pwrite(b"x", 0)
except nbd.Error as e:
    assert e.errnum == 1, e
else:
    raise AssertionError("write to a read-only export succeeded")
assert h.pread(4, 0) == b"\0" * 4
print("ok")
PY
out=$("$NBDKIT" -U - -r memory 1M --run "/usr/bin/python3 $T/ro.py")
expect_eq "$out" "ok" "read-only export"
pass
