#!/usr/bin/env bash
# nozero filter through our server: what Debian's nbdinfo sees for each mode is what it sees
# under Debian's nbdkit, zeroing still zeroes, and fast zero fails where upstream's does.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

caps() { "$1" -U - --filter=nozero memory 1M $2 --run "$NBDINFO \"\$uri\"" | grep -E 'can_(fast_)?zero' | tr -d '\t\n'; }
for args in "" "zeromode=none" "zeromode=emulate" "zeromode=emulate fastzeromode=none" \
            "zeromode=notrim" "zeromode=plugin fastzeromode=none" "zeromode=plugin fastzeromode=slow"; do
  ours=$(caps "$NBDKIT" "$args")
  ref=$(caps "$REF_NBDKIT" "$args")
  [ -n "$ref" ] || fail "reference nbdinfo printed nothing for '$args'"
  expect_eq "$ours" "$ref" "nbdinfo capabilities with '$args'"
done

# Zeroing through each mode zeroes; fast zero fails with ENOTSUP under emulate (default
# fastzeromode) and slow, and succeeds when the plugin does it.
check='
import errno
h.pwrite(b"\x01" * 8192, 0)
h.zero(4096, 1024)
assert h.pread(8192, 0) == b"\x01" * 1024 + bytes(4096) + b"\x01" * 3072
try:
    h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO)
    print("fast-ok")
except nbd.Error as e:
    print("fast-" + errno.errorcode[e.errnum])
'
for mode in "zeromode=emulate:fast-ENOTSUP" "zeromode=plugin fastzeromode=slow:fast-ENOTSUP" \
            "zeromode=notrim:fast-ok" "zeromode=emulate fastzeromode=ignore:fast-ENOTSUP" "zeromode=plugin fastzeromode=ignore:fast-ok"; do
  out=$("$NBDKIT" -U - --filter=nozero memory 1M ${mode%%:*} --run "$NBDSH -u \"\$uri\" -c '$check'") ||
    fail "zero through '${mode%%:*}'"
  expect_eq "$out" "${mode##*:}" "fast zero through '${mode%%:*}'"
done

# Negative: an unknown mode is one line naming it; notrim over a plugin without zero serves nothing.
expect_fail_line 1 "zeromode=foo" "$NBDKIT" -U - --filter=nozero memory 1M zeromode=foo --run true
if "$NBDKIT" -U - --filter=nozero pattern 1M zeromode=notrim --run "$NBDINFO --size \"\$uri\"" 2>/dev/null; then
  fail "zeromode=notrim served a plugin without zero support"
fi
pass
