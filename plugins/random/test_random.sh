#!/usr/bin/env bash
# random plugin through our server: reproducible by seed, the same bytes as Debian's nbdkit,
# nbdcopy/qemu-img can copy it onto itself (writes are checked), mismatching writes fail.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-img

sum() { "$NBDKIT" -U - random 1M "$@" --run "$NBDCOPY \"\$uri\" - | md5sum"; }
a=$(sum seed=7); b=$(sum seed=7); c=$(sum seed=8)
expect_eq "$a" "$b" "same seed, same data"
[ "$a" != "$c" ] || fail "different seeds gave the same data"

# The same bytes as upstream's random plugin for the same seed, whole disk and an odd range.
for seed in 0 7 4294967295; do
  ours=$(sum seed=$seed)
  theirs=$("$REF_NBDKIT" -U - random 1M seed=$seed --run "$NBDCOPY \"\$uri\" - | md5sum")
  expect_eq "$ours" "$theirs" "random seed=$seed against Debian's nbdkit"
done
read_hex='print(h.pread(37, 1000003).hex())'
ours=$("$NBDKIT" -U - random 2M seed=5 --run "$NBDSH -u \"\$uri\" -c '$read_hex'")
theirs=$("$REF_NBDKIT" -U - random 2M seed=5 --run "$NBDSH -u \"\$uri\" -c '$read_hex'")
expect_eq "$ours" "$theirs" "37 bytes at an odd offset against Debian's nbdkit"

# Copying the disk onto itself passes the write check (with and without a seed).
"$NBDKIT" -U - random 4M --run "$NBDCOPY \"\$uri\" \"\$uri\"" || fail "nbdcopy \$uri \$uri failed"
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
out=$("$NBDKIT" -U - random 1M --run "$NBDSH -u \"\$uri\" -c '$probe'" 2>/dev/null)
expect_eq "$out" "write EIO
trim EIO
zero EIO" "mismatching write, trim and zero"
expect_fail_line 1 "seed" "$NBDKIT" -U - random 1M seed=abc --run true
pass
