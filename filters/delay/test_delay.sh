#!/usr/bin/env bash
# delay filter through our server: data is intact under every kind of delay (no timing is
# asserted), fast zero fails like upstream's with delay-fast-zero=false, bad values are refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

"$NBDKIT" -U - --filter=delay pattern 1M rdelay=1ms delay-extents=1ms delay-open=10ms delay-close=10ms \
  --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "copy through delay"
"$REF_NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through delay"

script='
import errno
h.pwrite(b"slow" * 1024, 0)
h.zero(1024, 0)
h.trim(1024, 2048)
assert h.pread(4096, 0) == bytes(1024) + b"slow" * 256 + bytes(1024) + b"slow" * 256
try:
    h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO)
    print("fast-ok")
except nbd.Error as e:
    print("fast-" + errno.errorcode[e.errnum])
'
for args in "wdelay=1ms delay-zero=5ms delay-fast-zero=false" "wdelay=1ms"; do
  ours=$("$NBDKIT" -U - --filter=delay memory 1M $args --run "$NBDSH -u \"\$uri\" -c '$script'") ||
    fail "nbdsh through delay $args"
  ref=$("$REF_NBDKIT" -U - --filter=delay memory 1M $args --run "$NBDSH -u \"\$uri\" -c '$script'") ||
    fail "nbdsh through reference delay $args"
  expect_eq "$ours" "$ref" "fast zero through delay $args"
done
expect_eq "$ours" "fast-ok" "fast zero passes when delay-fast-zero is left alone"

# Negative: a bad delay is one line naming the parameter.
expect_fail_line 1 "rdelay=x" "$NBDKIT" -U - --filter=delay null 1M rdelay=x --run true
pass
