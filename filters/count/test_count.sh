#!/usr/bin/env bash
# count filter through our server: with -v the exit message totals exactly the bytes the
# clients read, wrote, zeroed and trimmed (a parallel nbdcopy, then nbdsh); without -v it
# prints nothing.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

# A parallel copy of 8 MiB of data: every byte read is counted once.
"$NBDKIT" -v -U - --filter=count --filter=noextents pattern 8M \
  --run "$NBDCOPY --connections=4 --requests=16 \"\$uri\" null:" 2> "$T/copy.log" || fail "copy through count"
expect_eq "$(grep -o 'count bytes: .*' "$T/copy.log")" "count bytes: read 8388608, written 0, zeroed 0, trimmed 0" \
  "bytes counted in a parallel copy"

script='
h.pwrite(b"x" * 5000, 0)
h.pread(3000, 100)
h.zero(65536, 1 << 20)
h.trim(4096, 1 << 19)
h.flush()
try:
    h.pread(512, 16 << 20)   # beyond the end: refused, not counted
except nbd.Error:
    pass
'
"$NBDKIT" -v -U - --filter=count memory 4M --run "$NBDSH -u \"\$uri\" -c '$script'" 2> "$T/sh.log" ||
  fail "nbdsh through count"
expect_eq "$(grep -o 'count bytes: .*' "$T/sh.log")" "count bytes: read 3000, written 5000, zeroed 65536, trimmed 4096" \
  "bytes counted per kind of request"

# Negative: without -v there is no message, and a parameter it does not own goes to the plugin.
out=$("$NBDKIT" -U - --filter=count memory 4M --run "$NBDSH -u \"\$uri\" -c '$script'" 2>&1)
[[ "$out" != *"count bytes"* ]] || fail "count message printed without -v: $out"
expect_fail_line 1 "count" "$NBDKIT" -U - --filter=count memory 4M count=1 --run true
pass
