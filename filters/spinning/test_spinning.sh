#!/usr/bin/env bash
# spinning filter through our server: nbdinfo (Debian's and ours) sees a rotational disk
# without multi-conn; Debian's libnbd sees a far read wait for the seek (lower bound) while
# reads within one track do not (a generous upper bound); the bytes are the plugin's.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
flags() {  # flags INFO ARGS...: the rotational and multi-conn lines INFO prints for our server
  local info=$1; shift
  "$NBDKIT" -U - "$@" --run "$info --json \"\$uri\"" | grep -oE '"(is_rotational|can_multi_conn)": [a-z]*' |
    tr '\n' ' ' || fail "$info with $*"
}
for info in "$NBDINFO"; do
  expect_eq "$(flags "$info" memory 1M)" '"is_rotational": false "can_multi_conn": true ' "$info: memory alone"
  expect_eq "$(flags "$info" --filter=spinning memory 1M)" '"is_rotational": true "can_multi_conn": false ' \
    "$info: spinning"
done

timing='
import time
size = h.get_size()
h.pwrite(b"far away" * 512, size - 4096)
h.pread(4096, 0)  # the head is now at 0
t = time.monotonic()
for i in range(10):
    h.pread(4096, i * 4096)  # all within the first track
near = time.monotonic() - t
t = time.monotonic()
data = h.pread(4096, size - 4096)
far = time.monotonic() - t
print("far bytes", data == b"far away" * 512)
print("far waited", far >= 1.4, "near quick", near < 1.0)
'
out=$("$NBDKIT" -U - --filter=spinning memory 64M min-seek-time=0.01 half-seek-time=0.6 max-seek-time=1.5 \
  --run "$NBDSH -u \"\$uri\" -c '$timing'") || fail "timing script"
expect_eq "$out" "far bytes True
far waited True near quick True" "seek delays"

# Four separate heads: each keeps its own place, and the data is intact.
"$NBDKIT" -U - --filter=spinning pattern 1M heads=4 separate-heads=true max-seek-time=0.05 half-seek-time=0.02 \
  --run "$NBDCOPY \"\$uri\" $T/ours.img" || fail "copy through spinning"
"$REF_NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
cmp "$T/ours.img" "$T/ref.img" || fail "data differs through spinning"

# Negative: bad values are one line naming the parameter.
expect_fail_line 1 "heads=0" "$NBDKIT" -U - --filter=spinning memory 1M heads=0 --run true
expect_fail_line 1 "max-seek-time=-1" "$NBDKIT" -U - --filter=spinning memory 1M max-seek-time=-1 --run true
pass
