#!/usr/bin/env bash
# nbdcopy against Debian's nbdkit: memory, pattern, data and sparse-random exports as sources
# and destinations, checksums compared with what Debian's nbdcopy produces, and errors.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdcopy
require_peer nbdkit nbdcopy

# copy_fails WANT CMD...: CMD runs nbdcopy with 2>$T/err; CMD must exit 1 and nbdcopy must
# have printed exactly one line containing WANT (the server's own log lines are ignored).
copy_fails() {
  local want=$1 rc; shift
  rm -f "$T/err"
  "$@" 2>/dev/null; rc=$?
  [ "$rc" -eq 1 ] || fail "'$*' exited $rc, expected 1 (nbdcopy said: $(cat "$T/err" 2>/dev/null))"
  [ "$(wc -l < "$T/err")" -eq 1 ] || fail "nbdcopy printed more than one line: $(cat "$T/err")"
  grep -qF -- "$want" "$T/err" || fail "nbdcopy error does not mention '$want': $(cat "$T/err")"
}

# pattern → file, ours and the reference byte for byte.
$REF_NBDKIT -U - pattern 5M --run "$NBDCOPY \"\$uri\" $T/ours.img && $REF_NBDCOPY \"\$uri\" $T/ref.img" ||
  fail "pattern to file"
cmp "$T/ours.img" "$T/ref.img" || fail "pattern copy differs from the reference"
expect_eq "$(stat -c %s "$T/ours.img")" "5242880" "pattern copy size"

# data plugin with holes between data: sizes and contents exact.
$REF_NBDKIT -U - data '1 2 3 @1048576 "hello" @4194303 9' --run "$NBDCOPY \"\$uri\" $T/data.img" ||
  fail "data to file"
$REF_NBDKIT -U - data '1 2 3 @1048576 "hello" @4194303 9' --run "$REF_NBDCOPY \"\$uri\" $T/data.ref" ||
  fail "reference data copy"
cmp "$T/data.img" "$T/data.ref" || fail "data copy differs"

# file → memory → file round trip through one server, with every connection option.
head -c 3M /dev/urandom > "$T/rand.img"
$REF_NBDKIT -U - memory 4M --run "
  $NBDCOPY -C 4 -R 8 --request-size=64K $T/rand.img \"\$uri\" &&
  $NBDCOPY --synchronous \"\$uri\" $T/back.img" || fail "round trip via memory"
expect_eq "$(stat -c %s "$T/back.img")" "4194304" "memory export size"
cmp -n 3145728 "$T/back.img" "$T/rand.img" || fail "round trip data differs"
cmp -i 3145728 -n 1048576 "$T/back.img" /dev/zero || fail "tail of memory export not zero"

# Holes copied over old data must read back as zeroes, also when the server has no
# WRITE_ZEROES (nozero filter: nbdcopy writes zero blocks instead) and with --allocated.
truncate -s 4M "$T/holes.img"
printf 'abc' | dd of="$T/holes.img" conv=notrunc status=none
for variant in "--filter=nozero" ""; do
  $REF_NBDKIT -U - $variant memory 4M --run "
    $NBDCOPY $T/rand.img \"\$uri\" && $NBDCOPY $T/holes.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/h1.img &&
    $NBDCOPY $T/rand.img \"\$uri\" && $NBDCOPY --allocated $T/holes.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/h2.img" ||
    fail "holes over data ($variant)"
  cmp "$T/h1.img" "$T/holes.img" || fail "holes not zeroed ($variant)"
  cmp "$T/h2.img" "$T/holes.img" || fail "holes not zeroed with --allocated ($variant)"
done

# NBD → NBD between two servers (captive destination), then read back.
$REF_NBDKIT -U - pattern 8M --run "$NBDCOPY -- \"\$uri\" [ $REF_NBDKIT memory 8M ]" || fail "nbd to captive nbd"

# sparse-random verifies what is written to it: copying it to itself passes ...
# (percent=0.2 keeps the 1T test to ~2 GiB of data; 10% would be 100 GiB.)
$REF_NBDKIT -U - sparse-random 1T percent=0.2 --run "$NBDCOPY \"\$uri\" \"\$uri\"" || fail "sparse-random 1T to itself"
# ... and a copy of different data into it must fail (EIO on the wrong bytes).
copy_fails "failed" $REF_NBDKIT -U - sparse-random 64M --run "$NBDCOPY -- [ $REF_NBDKIT pattern 64M ] \"\$uri\" 2>$T/err"

# A destination smaller than the source: one line, exit 1.
copy_fails "smaller than source" $REF_NBDKIT -U - memory 1M --run "$NBDCOPY $T/rand.img \"\$uri\" 2>$T/err"

# The error filter: read errors and write errors both fail the copy.
copy_fails "read at offset" \
  $REF_NBDKIT -U - --filter=error pattern 4M error-pread-rate=1 --run "$NBDCOPY \"\$uri\" null: 2>$T/err"
copy_fails "write at offset" \
  $REF_NBDKIT -U - --filter=error memory 4M error-pwrite-rate=1 --run "$NBDCOPY $T/rand.img \"\$uri\" 2>$T/err"
# The same through the synchronous copier and a pipe.
copy_fails "read at offset" \
  $REF_NBDKIT -U - --filter=error pattern 4M error-pread-rate=1 --run "$NBDCOPY \"\$uri\" - 2>$T/err >/dev/null"

# A server that is not there.
expect_fail_line 1 "nbdcopy: nbd+unix:///?socket=$T/none" "$NBDCOPY" "nbd+unix:///?socket=$T/none" null:
pass
