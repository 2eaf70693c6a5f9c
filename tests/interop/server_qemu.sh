#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# qemu-img and qemu-io (qemu 7.2) against our server: info, convert both ways, compare,
# read/write/discard/write -z/write -f (FUA) with pattern checks, a qcow2 inside the export.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-img qemu-io

start_server "$T/sock" memory 16M
U="nbd+unix:///?socket=$T/sock"
info=$(qemu-img info --output=json "$U")
expect_contains "$info" '"virtual-size": 16777216' "qemu-img info"

qemu-io -f raw -c 'write -P 0x5a 1M 2M' -c 'write -f -P 0x33 4M 64k' -c 'write -z 1M 64k' \
  -c 'discard 8M 1M' "$U" >/dev/null || fail "qemu-io writes"
qemu-io -f raw -c 'read -P 0 1M 64k' -c 'read -P 0x5a 1088k 1984k' -c 'read -P 0x33 4M 64k' \
  -c 'read -P 0 8M 1M' "$U" | grep -q "Pattern verification failed" && fail "qemu-io pattern mismatch"
qemu-io -f raw -c 'read -P 0x5a 1088k 1984k' "$U" | grep -q "read 2031616/2031616" || fail "qemu-io read"
# Negative: a wrong pattern is detected (so the checks above are real).
out=$(qemu-io -f raw -c 'read -P 0x5b 1088k 64k' "$U" 2>&1)
expect_contains "$out" "Pattern verification failed" "qemu-io with a wrong pattern"

# NBD -> file and file -> NBD; compare.
qemu-img convert -f raw -O raw "$U" "$T/out.raw" || fail "convert from NBD"
# What the qemu-io writes above left, built independently: 0x5a over [1M, 3M) except the
# zeroed first 64k, 0x33 over [4M, 4M+64k), zeroes elsewhere.
/usr/bin/python3 -c '
import sys
d = bytearray(16 << 20)
d[1 << 20:3 << 20] = b"\x5a" * (2 << 20)
d[1 << 20:(1 << 20) + 65536] = bytes(65536)
d[4 << 20:(4 << 20) + 65536] = b"\x33" * 65536
open(sys.argv[1], "wb").write(d)' "$T/expected.raw"
cmp "$T/out.raw" "$T/expected.raw" || fail "qemu-img convert from NBD: wrong bytes"
head -c 16M /dev/urandom >"$T/src.raw"
qemu-img convert -n -f raw -O raw "$T/src.raw" "$U" || fail "convert to NBD"
qemu-img compare -f raw -F raw "$T/src.raw" "$U" | grep -q "Images are identical" || fail "compare"
printf 'x' | dd of="$T/src.raw" bs=1 seek=12345 conv=notrunc status=none
qemu-img compare -q -f raw -F raw "$T/src.raw" "$U" && fail "compare missed a difference"

# A qcow2 image stored inside the export.
qemu-img create -q -f qcow2 "$T/q.qcow2" 8M && qemu-io -f qcow2 -c 'write -P 0x77 0 1M' "$T/q.qcow2" >/dev/null
qemu-img convert -n -f raw -O raw "$T/q.qcow2" "$U"
qemu-io -f qcow2 -c 'read -P 0x77 0 1M' "$U" | grep -q "read 1048576/1048576" || fail "qcow2 over NBD"

# Oldstyle (-o): qemu 7.2 still speaks it.
out=$("$NBDKIT" -o -U - memory 1M --run 'qemu-io -f raw -c "write -P 0x42 4k 4k" -c "read -P 0x42 4k 4k" "$uri"')
expect_contains "$out" "read 4096/4096 bytes at offset 4096" "oldstyle qemu-io"
[[ "$out" == *"Pattern verification failed"* ]] && fail "oldstyle pattern"
pass
