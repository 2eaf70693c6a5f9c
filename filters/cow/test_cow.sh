#!/usr/bin/env bash
# cow filter through our server: unaligned writes, zeroes and discards by qemu-io over a file
# and over the read-only pattern plugin read back (our nbdcopy) with the checksum of the same
# edits made by dd on a local copy; the plugin's file is unchanged; two clients connected at
# once see each other's writes; the allocation map matches Debian's nbdkit for the same edits;
# bad parameters exit 1 with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer qemu-io qemu-img nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit
TO="timeout 20"

head -c 4M /dev/urandom > "$T/disk.img"
before=$(sha256sum < "$T/disk.img")
cp "$T/disk.img" "$T/model.img"
sock=$T/sock
uri="nbd+unix:///?socket=$sock"

# dd_write MODEL OFFSET COUNT BYTE / dd_zero MODEL OFFSET COUNT: the edits, on the local copy.
dd_write() { head -c "$3" /dev/zero | tr '\0' "\\$(printf '%03o' "$4")" | dd of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none; }
dd_zero() { dd if=/dev/zero of="$1" bs=64K seek="$2" count="$3" iflag=count_bytes oflag=seek_bytes conv=notrunc status=none; }

edits=(-c "write -P 0x41 1000 3000" -c "write -P 0x42 65530 12" -c "write -z 100000 70000"
       -c "discard 262144 131072" -c "discard 600001 5000" -c "write -P 0x43 4194000 304")
apply_edits() {
  dd_write "$1" 1000 3000 65; dd_write "$1" 65530 12 66; dd_zero "$1" 100000 70000
  dd_zero "$1" 262144 131072; dd_zero "$1" 600001 5000; dd_write "$1" 4194000 304 67
}

# 1. Over the file plugin (writable, but the filter opens it read-only).
start_server "$sock" --filter=cow file "$T/disk.img"
$TO qemu-io -f raw "$uri" "${edits[@]}" >/dev/null || fail "qemu-io edits through cow failed"
apply_edits "$T/model.img"
rm -f "$T/out.img"
$TO "$NBDCOPY" "$uri" "$T/out.img" || fail "nbdcopy out of cow failed"
expect_eq "$(sha256sum < "$T/out.img")" "$(sha256sum < "$T/model.img")" "cow export after the edits"
expect_eq "$(sha256sum < "$T/disk.img")" "$before" "the plugin's file must not change"
[ "$(sha256sum < "$T/model.img")" != "$before" ] || fail "the edits changed nothing (test is void)"
$TO qemu-img compare -f raw -F raw "$uri" "$T/model.img" >/dev/null || fail "qemu-img compare differs"

# 2. Two clients connected at the same time see each other's writes (one overlay).
/usr/bin/python3 - "$uri" <<'PY' || fail "two connections did not share the overlay"
import sys, nbd
a, b = nbd.NBD(), nbd.NBD()
a.connect_uri(sys.argv[1]); b.connect_uri(sys.argv[1])
a.pwrite(b"from-a" * 100, 123457)
assert b.pread(600, 123457) == b"from-a" * 100
b.pwrite(b"B" * 10, 123460)
assert a.pread(6, 123457) == b"fro" + b"BBB"
assert a.can_multi_conn() and b.can_multi_conn()
PY
kill "$(cat "$sock.pid")"
expect_eq "$(sha256sum < "$T/disk.img")" "$before" "the plugin's file after two clients"

# 2b. A whole image written in by nbdcopy reads back, and still nothing reaches the file.
head -c 4M /dev/urandom > "$T/new.img"
$TO "$NBDKIT" -U - --filter=cow file "$T/disk.img" \
  --run "$NBDCOPY $T/new.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/back.img" || fail "nbdcopy in and out of cow"
expect_eq "$(sha256sum < "$T/back.img")" "$(sha256sum < "$T/new.img")" "an image copied into cow"
expect_eq "$(sha256sum < "$T/disk.img")" "$before" "the plugin's file after nbdcopy wrote the export"

# 3. Over the read-only pattern plugin: writes are allowed; untouched bytes are the pattern's.
$TO "$REF_NBDKIT" -r -U - pattern 4M --run "$NBDCOPY \"\$uri\" $T/pattern.img" || fail "pattern reference"
cp "$T/pattern.img" "$T/pmodel.img"
apply_edits "$T/pmodel.img"
$TO "$NBDKIT" -U - --filter=cow pattern 4M \
  --run "qemu-io -f raw \"\$uri\" $(printf "'%s' " "${edits[@]}") >/dev/null && $NBDCOPY \"\$uri\" $T/pout.img" \
  || fail "edits over the pattern plugin"
expect_eq "$(sha256sum < "$T/pout.img")" "$(sha256sum < "$T/pmodel.img")" "cow over pattern after the edits"
# Without the filter the same plugin refuses the write (qemu-io will not open it writable).
err=$($TO "$NBDKIT" -U - pattern 4M --run "qemu-io -f raw \"\$uri\" -c 'write 0 512'" 2>&1) &&
  fail "pattern without cow accepted a write (the test above proves nothing)"
expect_contains "$err" "Permission denied" "qemu-io writing to pattern without cow"

# 4. Allocation map: writes are data, whole discarded blocks hole+zero, untouched blocks as
# the plugin says; the same as Debian's nbdkit (1.32 has no zero, so only writes and trims).
map() {
  $TO "$1" -U - --filter=cow data "1 @65536 2 @300000 3 @1048575 9" size=1M \
    --run "qemu-io -f raw \"\$uri\" -c 'write -P 7 700000 10' -c 'discard 0 65536' -c 'discard 131072 1000' \
           -c 'discard 262144 131072' >/dev/null && $NBDINFO --map \"\$uri\""
}
ours=$(map "$NBDKIT") || fail "our map run failed"
ref=$(map "$REF_NBDKIT") || fail "reference map run failed"
expect_contains "$ref" "hole,zero" "reference map"
expect_eq "$ours" "$ref" "nbdinfo --map through cow"

# 5. Bad parameters: one line naming the parameter, exit 1.
for bs in 1024 3000 4G; do
  expect_fail_line 1 "cow-block-size" "$NBDKIT" -U - --filter=cow memory 1M cow-block-size=$bs --run true
done
expect_fail_line 1 "cow-on-read" "$NBDKIT" -U - --filter=cow memory 1M cow-on-read=relative/path --run true
expect_fail_line 1 "cow-on-cache" "$NBDKIT" -U - --filter=cow memory 1M cow-on-cache=perhaps --run true
# An export whose block table could not be held is refused at open with a clear line, not a crash.
err=$($TO "$NBDKIT" -U - --filter=cow null 1E --run "$NBDINFO --size \"\$uri\"" 2>&1) &&
  fail "cow over a 1E export served it"
expect_contains "$err" "cow: cannot track" "an export too large for the overlay"
# -r still means read-only above the filter.
err=$($TO "$NBDKIT" -r -U - --filter=cow memory 1M --run "qemu-io -f raw \"\$uri\" -c 'write 0 512'" 2>&1) &&
  fail "cow under -r accepted a write"
expect_contains "$err" "Permission denied" "qemu-io writing to cow under -r"
pass
