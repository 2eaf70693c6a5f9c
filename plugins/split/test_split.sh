#!/usr/bin/env bash
# split plugin through our server: Debian's nbdcopy reads the concatenation, qemu-io writes
# across a file boundary, nbdinfo --map sees the holes of a sparse part.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

head -c 100000 /dev/urandom > "$T/a"
head -c 3333 /dev/urandom > "$T/b"
truncate -s 1M "$T/c"
cat "$T/a" "$T/b" "$T/c" > "$T/want"

"$NBDKIT" -U - split "$T/a" file="$T/b" file="$T/c" --run "$NBDCOPY \"\$uri\" $T/got"
cmp "$T/got" "$T/want" || fail "split export differs from the concatenated files"

# A write straddling a and b lands in both files.
"$NBDKIT" -U - split "$T/a" file="$T/b" --run "qemu-io -f raw -c 'write -P 0x5a 99000 2000' \"\$uri\"" >/dev/null \
  || fail "qemu-io write failed"
cmp -n 1000 -i 99000:0 "$T/a" <(head -c 1000 /dev/zero | tr '\0' 'Z') || fail "tail of a not written"
cmp -n 1000 "$T/b" <(head -c 1000 /dev/zero | tr '\0' 'Z') || fail "head of b not written"

# The sparse third file shows up as a hole in the map.
map=$("$NBDKIT" -U - -r split "$T/a" file="$T/b" file="$T/c" --run "$NBDINFO --map \"\$uri\"")
expect_contains "$map" "103333     1048576    3  hole,zero" "nbdinfo --map"

# Every bare value takes the magic key file=, not only the first (upstream's synopsis).
"$NBDKIT" -U - -r split "$T/a" "$T/b" "$T/c" --run "$NBDCOPY \"\$uri\" $T/got2" || fail "bare file names after the first"
cat "$T/a" "$T/b" "$T/c" | cmp "$T/got2" - || fail "bare file names: export differs"

# Negative: no file is a one-line startup error naming the parameter.
expect_fail_line 1 "file" "$NBDKIT" -U - split --run true
pass
