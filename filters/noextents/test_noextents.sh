#!/usr/bin/env bash
# noextents filter through our server: a sparse disk looks fully allocated to Debian's nbdinfo,
# as it does under Debian's nbdkit with the same stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# Negative first: without the filter the empty memory disk is one hole.
plain=$("$NBDKIT" -U - memory 1M --run "$NBDINFO --map \"\$uri\"")
expect_contains "$plain" "hole" "map without noextents"

ours=$("$NBDKIT" -U - --filter=noextents memory 1M --run "$NBDINFO --map \"\$uri\"")
ref=$("$REF_NBDKIT" -U - --filter=noextents memory 1M --run "$NBDINFO --map \"\$uri\"")
expect_eq "$ours" "$ref" "nbdinfo --map through noextents"
expect_eq "$(echo $ours)" "0 1048576 0 data" "all data"

# Data still flows.
"$NBDKIT" -U - --filter=noextents pattern 64K --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "copy"
"$REF_NBDKIT" -U - pattern 64K --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through noextents"
pass
