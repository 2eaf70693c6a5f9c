#!/usr/bin/env bash
# nbdcopy with qemu: qemu-nbd serving qcow2 as a captive [ CMD ] source and destination and
# as a running server, checked with qemu-img compare and checksums.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdcopy
require_peer qemu-img qemu-nbd qemu-io

qemu-img create -q -f qcow2 "$T/disk.qcow2" 16M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 2M' -c 'write -P 0x11 9M 64k' -c 'write -z 12M 1M' \
  "$T/disk.qcow2" >/dev/null || fail "qemu-io setup"
qemu-img convert -f qcow2 -O raw "$T/disk.qcow2" "$T/expect.raw"

# qcow2 → raw through a captive qemu-nbd.
"$NBDCOPY" -- [ qemu-nbd -f qcow2 "$T/disk.qcow2" ] "$T/disk.raw" || fail "captive qemu-nbd to raw"
cmp "$T/disk.raw" "$T/expect.raw" || fail "raw copy differs from qemu-img convert"
qemu-img compare -q -f raw -F qcow2 "$T/disk.raw" "$T/disk.qcow2" || fail "qemu-img compare"

# raw → a new qcow2 through a captive qemu-nbd destination, then compare.
qemu-img create -q -f qcow2 "$T/out.qcow2" 16M
"$NBDCOPY" -- "$T/disk.raw" [ qemu-nbd -f qcow2 "$T/out.qcow2" ] || fail "raw to captive qemu-nbd"
qemu-img compare -q -f raw -F qcow2 "$T/expect.raw" "$T/out.qcow2" || fail "qcow2 written by nbdcopy differs"

# A running qemu-nbd on a Unix socket, streamed to a pipe.
qemu-nbd --fork --persistent --pid-file="$T/qn.pid" --socket="$T/qn.sock" -f qcow2 -r "$T/disk.qcow2" ||
  fail "qemu-nbd --fork"
PIDS+=($(cat "$T/qn.pid"))
"$NBDCOPY" "nbd+unix:///?socket=$T/qn.sock" - | cmp - "$T/expect.raw" || fail "qemu-nbd to stdout"
# Negative: a read-only export cannot be a destination.
expect_fail_line 1 "read-only" "$NBDCOPY" "$T/disk.raw" "nbd+unix:///?socket=$T/qn.sock"
pass
