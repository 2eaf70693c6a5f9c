#!/usr/bin/env bash
# rotational filter through our server: Debian's and our nbdinfo --json report is_rotational as
# the parameter says, over a plugin that is not rotational and over one that is.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
rot() {  # rot INFO ARGS...: the is_rotational line INFO prints for our server with ARGS
  local info=$1; shift
  "$NBDKIT" -U - "$@" --run "$info --json \"\$uri\"" | grep -o '"is_rotational": [a-z]*' ||
    fail "$info with $*"
}
for info in "$NBDINFO"; do
  # Negative first: without the filter the memory disk is not rotational.
  expect_eq "$(rot "$info" memory 1M)" '"is_rotational": false' "$info: memory alone"
  expect_eq "$(rot "$info" --filter=rotational memory 1M)" '"is_rotational": true' "$info: default"
  expect_eq "$(rot "$info" --filter=rotational memory 1M rotational=true)" '"is_rotational": true' "$info: true"
  expect_eq "$(rot "$info" --filter=rotational memory 1M rotational=false)" '"is_rotational": false' "$info: false"
  # Over a rotational layer (a rotational=true filter below), false clears it.
  expect_eq "$(rot "$info" --filter=rotational --filter=rotational memory 1M rotational=false)" \
    '"is_rotational": false' "$info: false over a rotational layer"
done
# Data passes unchanged.
"$NBDKIT" -U - --filter=rotational pattern 1M --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "copy"
"$REF_NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through rotational"
expect_fail_line 1 "rotational" "$NBDKIT" -U - --filter=rotational memory 1M rotational=sometimes --run true
pass
