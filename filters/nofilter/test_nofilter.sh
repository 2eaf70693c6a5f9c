#!/usr/bin/env bash
# nofilter through our server: clients see exactly what they see without it (export list,
# sizes, flags, block sizes, extents, bytes), also stacked several deep, as under Debian's
# nbdkit; a key it does not own still reaches the plugin.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

mkdir "$T/dir"
printf 'first' >"$T/dir/a"
printf 'second export' >"$T/dir/b"
truncate -s 64K "$T/dir/b"

# info SERVER FILTERS...: nbdinfo's view of a sparse memory disk and of a directory of exports
# (less the URIs, which name each run's socket).
info() {
  info_raw "$@" | grep -v '"uri":'
}
info_raw() {
  local srv=$1; shift
  "$srv" -U - "$@" memory 1M --run "$NBDSH -u \"\$uri\" -c 'h.pwrite(b\"x\" * 4096, 65536)' &&
    $NBDINFO --json \"\$uri\" && $NBDINFO --map \"\$uri\"" || fail "nbdinfo via $srv $*"
  "$srv" -U - "$@" file dir="$T/dir" --run "$NBDINFO --list --json \"\$uri\"" || fail "nbdinfo --list via $srv $*"
}
plain=$(info "$NBDKIT")
for filters in "--filter=nofilter" "--filter=nofilter --filter=nofilter --filter=nofilter"; do
  expect_eq "$(info "$NBDKIT" $filters)" "$plain" "our nbdinfo view with $filters"
done
expect_eq "$(info "$REF_NBDKIT" --filter=nofilter)" "$(info "$REF_NBDKIT")" "reference nofilter is a no-op too"
expect_contains "$plain" '"export-name": "b"' "the export list came through"
expect_contains "$plain" '     65536 ' "the map came through"
expect_contains "$plain" 'hole,zero' "the map came through with holes"

# Bytes through three nofilters, read by Debian's nbdcopy, match the plugin's.
"$NBDKIT" -U - --filter=nofilter --filter=nofilter --filter=nofilter pattern 4M \
  --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "copy through nofilter"
"$REF_NBDKIT" -U - pattern 4M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through nofilter"

# Negative: nofilter owns no keys, so a bad one is the plugin's one-line error.
expect_fail_line 1 "bogus" "$NBDKIT" -U - --filter=nofilter memory 1M bogus=1 --run true
pass
