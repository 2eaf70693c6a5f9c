#!/usr/bin/env bash
# extentlist filter through our server: the map that nbdinfo --map and qemu-img map read is
# the file's, with gaps as holes, exactly as under Debian's nbdkit; data passes through (bytes
# checked); nbdcopy skips the holes; bad files exit 1 with one line naming file and line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
require_peer nbdkit qemu-img

cat > "$T/list" <<'LIST'
1M 1M 3
5M 1M zero
0 512
7M 4096 hole
LIST
map() { timeout 20 "$1" -r -U - --filter=extentlist memory 10M extentlist="$2" --run "$3 \"\$uri\""; }
ours=$(map "$NBDKIT" "$T/list" "$NBDINFO --map")
ref=$(map "$REF_NBDKIT" "$T/list" "$NBDINFO --map")
expect_eq "$ours" "$ref" "nbdinfo --map against Debian's nbdkit"
expect_eq "$(awk '{print $1, $2, $3}' <<<"$ours" | tr '\n' ';')" \
  "0 512 0;512 5242368 3;5242880 1048576 2;6291456 1048576 3;7340032 4096 1;7344128 3141632 3;" "the map"
expect_eq "$(map "$NBDKIT" "$T/list" "$NBDINFO --map" | awk '{print $1, $2, $3}' | tr '\n' ';')" \
  "0 512 0;512 5242368 3;5242880 1048576 2;6291456 1048576 3;7340032 4096 1;7344128 3141632 3;" "our nbdinfo --map"
expect_eq "$(map "$NBDKIT" "$T/list" 'qemu-img map -f raw --output=json')" \
  "$(map "$REF_NBDKIT" "$T/list" 'qemu-img map -f raw --output=json')" "qemu-img map against Debian's nbdkit"

# Data passes through: the allocated extent's bytes come from the plugin, and nbdcopy, which
# trusts the map, copies them and leaves the rest zero.
head -c 4M /dev/urandom > "$T/disk.img"
printf '0 1M\n' > "$T/one"
timeout 20 "$NBDKIT" -r -U - --filter=extentlist file "$T/disk.img" extentlist="$T/one" \
  --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "copy through extentlist"
cmp -n 1048576 "$T/out.img" "$T/disk.img" || fail "data extent bytes differ"
cmp -i 1048576 "$T/out.img" <(head -c 4M /dev/zero) || fail "holes were not copied as zeroes"
# A read inside a listed hole still returns the plugin's bytes (nbddump would trust the map).
check='assert h.pread(4096, 3 << 20) == open(IMG, "rb").read()[3 << 20:(3 << 20) + 4096]; print("same")'
out=$(timeout 20 "$NBDKIT" -r -U - --filter=extentlist file "$T/disk.img" extentlist="$T/one" \
  --run "$NBDSH -u \"\$uri\" -c 'IMG=\"$T/disk.img\"' -c '$check'")
expect_eq "$out" "same" "read inside a hole"

# Negative: bad files are one line naming the file and line, exit 1.
check_bad() {  # CONTENT SUBSTRING
  printf "$1" > "$T/bad"
  expect_fail_line 1 "$2" "$NBDKIT" -r -U - --filter=extentlist memory 10M extentlist="$T/bad" --run true
}
check_bad '0 1M\n512K 1M\n' "$T/bad: the extents on lines 1 and 2 overlap"
check_bad '0 1M\nx 1M\n' "$T/bad:2: offset=x"
check_bad '0 -1\n' "$T/bad:1: length=-1"
check_bad '0\n' "$T/bad:1: expected 'OFFSET LENGTH [TYPE]'"
check_bad '0 1M bogus\n' "type 'bogus'"
expect_fail_line 1 "/nonexistent/list" "$NBDKIT" -r -U - --filter=extentlist memory 1M extentlist=/nonexistent/list --run true
expect_fail_line 1 "extentlist=FILE" "$NBDKIT" -r -U - --filter=extentlist memory 1M --run true
pass
