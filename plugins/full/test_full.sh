#!/usr/bin/env bash
# full plugin through our server: zeroes on read and ENOSPC on write, seen by Debian's
# nbdcopy, nbdinfo and nbdsh, compared with Debian's full plugin.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

"$NBDKIT" -U - full 1M --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "reading the full disk failed"
cmp "$T/out.img" <(head -c 1048576 /dev/zero) || fail "full disk did not read as zeroes"

probe='
import nbd
for name, f in [("write", lambda: h.pwrite(b"x" * 512, 0)), ("trim", lambda: h.trim(512, 0)),
                ("zero", lambda: h.zero(512, 0)),
                ("fastzero", lambda: h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO))]:
    try:
        f(); print(name, "ok")
    except nbd.Error as e:
        print(name, e.errno)
print(h.pread(4, 4096))'
ours=$("$NBDKIT" -U - full 1M --run "$NBDSH -u \"\$uri\" -c '$probe'")
ref=$("$REF_NBDKIT" -U - full 1M --run "$NBDSH -u \"\$uri\" -c '$probe'" 2>/dev/null)
expect_eq "$ours" "$ref" "errors compared with Debian's full plugin"
expect_contains "$ours" "write ENOSPC" "write fails with ENOSPC"

map=$("$NBDKIT" -U - full 1M --run "$NBDINFO --map \"\$uri\"" | awk '{print $1, $2, $4}')
expect_eq "$map" "0 1048576 hole,zero" "nbdinfo --map"

# Negative: the size is required.
expect_fail_line 1 "size" "$NBDKIT" -U - full --run true
pass
