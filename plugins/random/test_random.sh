#!/usr/bin/env bash
# random plugin through our server: reproducible by seed, bytes as documented in random.h,
# nbdcopy/qemu-img can copy it onto itself (writes are checked), mismatching writes fail.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdcopy qemu-img

sum() { "$NBDKIT" -U - random 1M "$@" --run "$REF_NBDCOPY \"\$uri\" - | md5sum"; }
a=$(sum seed=7); b=$(sum seed=7); c=$(sum seed=8)
expect_eq "$a" "$b" "same seed, same data"
[ "$a" != "$c" ] || fail "different seeds gave the same data"

# The first bytes, computed independently from the definition in random.h.
want=$(/usr/bin/python3 -c '
M = (1 << 64) - 1
out = b""
for i in range(3):
    z = (7 + (i + 1) * 0x9e3779b97f4a7c15) & M
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    z ^= z >> 31
    out += z.to_bytes(8, "little")
print(out.hex())')
got=$("$NBDKIT" -U - random 1M seed=7 --run "$REF_NBDSH -u \"\$uri\" -c 'print(h.pread(24, 0).hex())'")
expect_eq "$got" "$want" "bytes of seed=7 against the documented generator"

# Copying the disk onto itself passes the write check (with and without a seed).
"$NBDKIT" -U - random 4M --run "$REF_NBDCOPY \"\$uri\" \"\$uri\"" || fail "nbdcopy \$uri \$uri failed"
"$NBDKIT" -U - random 4M seed=3 --run "qemu-img convert -n -f raw -O raw \"\$uri\" \"\$uri\"" ||
  fail "qemu-img convert \$uri \$uri failed"

# Negative: different bytes are refused with EIO, and so are trim and zero.
probe='
import nbd
for name, f in [("write", lambda: h.pwrite(b"x" * 512, 0)), ("trim", lambda: h.trim(512, 0)),
                ("zero", lambda: h.zero(512, 0))]:
    try:
        f(); print(name, "ok")
    except nbd.Error as e:
        print(name, e.errno)'
out=$("$NBDKIT" -U - random 1M --run "$REF_NBDSH -u \"\$uri\" -c '$probe'" 2>/dev/null)
expect_eq "$out" "write EIO
trim EIO
zero EIO" "mismatching write, trim and zero"
expect_fail_line 1 "seed" "$NBDKIT" -U - random 1M seed=abc --run true
pass
