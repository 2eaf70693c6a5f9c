#!/usr/bin/env bash
# ones plugin through our server: every byte 0xff (or byte=N) whatever is written, read by
# Debian's nbdcopy and written by qemu-io. (Debian's nbdkit 1.32 predates this plugin.)
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

"$NBDKIT" -U - ones 1M --run "$NBDCOPY \"\$uri\" $T/ff.img" || fail "reading ones failed"
cmp "$T/ff.img" <(head -c 1048576 /dev/zero | tr '\0' '\377') || fail "ones did not read as 0xff"

"$NBDKIT" -U - ones size=100000 byte=0x41 --run \
  "qemu-io -f raw \"\$uri\" -c 'write -P 0x11 0 4096' -c 'write -z 8192 4096' >/dev/null && $NBDCOPY \"\$uri\" $T/a.img" ||
  fail "writing to ones failed"
cmp "$T/a.img" <(head -c 100000 /dev/zero | tr '\0' 'A') || fail "byte=0x41 did not read as 'A' after writes"

# Negative: a byte out of range is a one-line error naming it.
expect_fail_line 1 "byte=256" "$NBDKIT" -U - ones 1M byte=256 --run true
pass
