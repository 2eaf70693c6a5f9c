#!/usr/bin/env bash
# nocache filter through our server: for each cachemode Debian's nbdsh sees the same cache
# support as under Debian's nbdkit, and a log filter below shows what a cache request became
# (reads for emulate, nothing for nop). Data still flows; a bad mode is refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

script='
print("can_cache", h.can_cache())
h.pwrite(b"nocache!" * 512, 0)
try:
    h.cache(4096, 0)
    print("cache ok")
except nbd.Error as e:
    print("cache errno", e.errnum)
assert h.pread(4096, 0) == b"nocache!" * 512
'
# below SERVER MODE: what nbdsh prints, then the operations the log filter saw below nocache.
below() {
  rm -f "$T/log"
  "$1" -U - --filter=nocache --filter=log memory 1M cachemode=$2 logfile="$T/log" \
    --run "$NBDSH -u \"\$uri\" -c '$script'" || fail "nbdsh through nocache cachemode=$2 ($1)"
  grep -oE 'connection=1 (Read|Cache)' "$T/log" | sort | uniq -c | tr -s ' '
}
for mode in none emulate nop; do
  ours=$(below "$NBDKIT" $mode)
  ref=$(below "$REF_NBDKIT" $mode)
  expect_eq "$ours" "$ref" "nocache cachemode=$mode"
done
# Content of the last runs, spelled out, so a filter that forwards cache fails here.
expect_eq "$(below "$NBDKIT" none | head -1)" "can_cache False" "none hides cache"
expect_contains "$(below "$NBDKIT" emulate)" "cache ok
 2 connection=1 Read" "emulate reads (the cache request and the check)"
expect_eq "$(below "$NBDKIT" nop | tr '\n' ' ')" "can_cache True cache ok  1 connection=1 Read " "nop reaches nothing"

# Data is unchanged through the filter.
"$NBDKIT" -U - --filter=nocache pattern 1M cachemode=emulate --run "$NBDCOPY \"\$uri\" $T/ours.img" ||
  fail "copy through nocache"
"$REF_NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through nocache"

# Negative: an unknown mode is one line naming the parameter.
expect_fail_line 1 "cachemode=native" "$NBDKIT" -U - --filter=nocache null 1M cachemode=native --run true
pass
