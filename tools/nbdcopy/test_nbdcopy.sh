#!/usr/bin/env bash
# nbdcopy between local files, pipes and null: (no server): contents, sparseness, sizes,
# and one-line errors for bad arguments and missing files.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdcopy

# A 3 MiB image: random data, a 1 MiB hole, random data.
head -c 1M /dev/urandom > "$T/src.img"
truncate -s 2M "$T/src.img"
head -c 1M /dev/urandom >> "$T/src.img"
sum=$(md5sum < "$T/src.img")

"$NBDCOPY" "$T/src.img" "$T/dst.img" || fail "file to new file"
expect_eq "$(md5sum < "$T/dst.img")" "$sum" "file copy checksum"
# The hole stays a hole: at most ~2 MiB allocated.
blocks=$(stat -c %b "$T/dst.img")
[ "$blocks" -le $((2 * 2048 + 64)) ] || fail "destination not sparse: $blocks blocks"

# A larger destination is truncated to the source's size.
head -c 5M /dev/urandom > "$T/big.img"
"$NBDCOPY" --flush "$T/src.img" "$T/big.img" || fail "copy over a larger file"
expect_eq "$(stat -c %s "$T/big.img")" "3145728" "truncated size"
expect_eq "$(md5sum < "$T/big.img")" "$sum" "copy over larger file checksum"

# Pipes both ways, synchronous and --allocated variants.
"$NBDCOPY" "$T/src.img" - | cmp - "$T/src.img" || fail "file to stdout"
"$NBDCOPY" - "$T/fromstdin.img" < "$T/src.img" || fail "stdin to file"
cmp "$T/fromstdin.img" "$T/src.img" || fail "stdin copy differs"
cat "$T/src.img" | "$NBDCOPY" - - | cmp - "$T/src.img" || fail "pipe to pipe"
"$NBDCOPY" --synchronous --allocated "$T/src.img" "$T/alloc.img" || fail "synchronous allocated"
cmp "$T/alloc.img" "$T/src.img" || fail "allocated copy differs"
[ "$(stat -c %b "$T/alloc.img")" -ge 6144 ] || fail "--allocated left holes"
"$NBDCOPY" "$T/src.img" null: || fail "to null:"

# --progress=FD: N/100 lines ending in 100/100.
"$NBDCOPY" --progress=3 "$T/src.img" null: 3> "$T/progress.txt" || fail "progress copy"
expect_eq "$(tail -n 1 "$T/progress.txt")" "100/100" "last progress line"
grep -qvE '^[0-9]+/100$' "$T/progress.txt" && fail "bad progress line: $(cat "$T/progress.txt")"

# --help and --version go to stdout with status 0.
"$NBDCOPY" --help | grep -q "^usage: nbdcopy" || fail "--help"
expect_contains "$("$NBDCOPY" -V)" "nbdcopy " "-V"

# Negative cases: one line, exit 1.
expect_fail_line 1 "nbdcopy: " "$NBDCOPY" "$T/src.img"
expect_fail_line 1 "--bogus" "$NBDCOPY" --bogus "$T/src.img" "$T/x"
expect_fail_line 1 "request-size" "$NBDCOPY" --request-size=1000 "$T/src.img" "$T/x"
expect_fail_line 1 "$T/missing: No such file or directory" "$NBDCOPY" "$T/missing" "$T/x"
expect_fail_line 1 "null: can only be a destination" "$NBDCOPY" null: "$T/x"
expect_fail_line 1 "same file" "$NBDCOPY" "$T/src.img" "$T/src.img"
expect_eq "$(md5sum < "$T/src.img")" "$sum" "source untouched after the same-file refusal"
# A read error on a stream source (a directory cannot be read).
expect_fail_line 1 "nbdcopy: $T: read" "$NBDCOPY" "$T" null:
pass
