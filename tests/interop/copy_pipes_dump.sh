#!/usr/bin/env bash
# nbdcopy streams (stdin/stdout, --synchronous, --progress=FD) against Debian's nbdkit, and
# nbddump's output compared byte for byte with Debian's nbddump on the same exports.
# labels: asan
source "$NBD_SRC/tests/lib.sh"
require_bin nbdcopy nbddump
require_peer nbdkit nbdcopy nbddump

head -c 2M /dev/urandom > "$T/rand.img"
# stdin → NBD → stdout.
$REF_NBDKIT -U - memory 2M --run "
  $NBDCOPY - \"\$uri\" < $T/rand.img && $NBDCOPY \"\$uri\" - | cmp - $T/rand.img" || fail "pipe round trip"
# Pipe source shorter than the export: the rest stays zero.
$REF_NBDKIT -U - memory 4M --run "
  head -c 1000 $T/rand.img | $NBDCOPY - \"\$uri\" && $NBDCOPY --synchronous \"\$uri\" $T/short.img" ||
  fail "short pipe"
cmp -n 1000 "$T/short.img" "$T/rand.img" || fail "short pipe data"
cmp -i 1000 -n $((4194304 - 1000)) "$T/short.img" /dev/zero || fail "short pipe tail not zero"

# --progress=FD from the parallel copier: increasing N/100 lines, last 100/100.
$REF_NBDKIT -U - pattern 64M --run "$NBDCOPY --progress=3 \"\$uri\" null: 3>$T/progress" || fail "progress"
expect_eq "$(tail -n 1 "$T/progress")" "100/100" "final progress line"
sort -n -c -t/ -k1,1 "$T/progress" 2>/dev/null || fail "progress not increasing: $(tr '\n' ' ' < "$T/progress")"

# nbddump vs Debian's nbddump: plain, coloured, with --length, big sparse disk, captive server.
dump_same() {
  local args=$1; shift
  $REF_NBDKIT -U - "$@" --run "$NBDDUMP $args \"\$uri\" > $T/ours.txt; $REF_NBDDUMP $args \"\$uri\" > $T/ref.txt" ||
    fail "nbddump $args on $*"
  cmp "$T/ours.txt" "$T/ref.txt" || fail "nbddump $args on $* differs: $(diff "$T/ours.txt" "$T/ref.txt" | head -5)"
}
dump_same "" data '1 0 0 @0x100 "hello, world!" @0x1003 33'
dump_same "--color" data '1 2 "AB" 0x7f 0x80 0xff @32 1 @100 "xyz"'
dump_same "-n 100" pattern 1M
dump_same "--length=63" memory 64
dump_same "" memory 256M
dump_same "" file "$T/rand.img"
$NBDDUMP -- [ $REF_NBDKIT pattern 300 ] > "$T/cmd.txt" || fail "nbddump [ CMD ]"
$REF_NBDKIT -U - pattern 300 --run "$REF_NBDDUMP \"\$uri\"" | cmp - "$T/cmd.txt" || fail "nbddump [ CMD ] differs"
# --offset (our extension) prints the same lines the reference prints there.
$REF_NBDKIT -U - pattern 1M --run "$NBDDUMP --offset=0x1000 -n 64 \"\$uri\" > $T/off.txt &&
                                   $REF_NBDDUMP -n 4160 \"\$uri\" | tail -n 4 > $T/off.ref" || fail "nbddump --offset"
cmp "$T/off.txt" "$T/off.ref" || fail "nbddump --offset differs: $(diff "$T/off.txt" "$T/off.ref" | head -4)"
# Negative: bad length, no server.
expect_fail_line 1 "--length" "$NBDDUMP" -n foo nbd://localhost
expect_fail_line 1 "nbddump: nbd+unix:///?socket=$T/none" "$NBDDUMP" "nbd+unix:///?socket=$T/none"
pass
