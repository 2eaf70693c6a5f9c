#!/usr/bin/env bash
# checkwrite filter through our server: the man page's copy checks pass (nbdcopy and
# qemu-img convert from the export onto itself, and the Unix-socket pattern with a source
# file), what nbdinfo reports matches Debian's nbdkit, nothing is written to the plugin, and
# wrong data fails with EIO (nbdcopy's exit status and message, qemu-io), leaving it unchanged.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit qemu-img qemu-io

# Same capabilities as Debian's nbdkit, writable and with -r.
caps() { timeout 20 "$1" -U - --filter=checkwrite "${@:2}" data "@32768 1" --run "$NBDINFO \"\$uri\"" |
  grep -E 'export-size|is_read_only|can_' | tr -d '\t' | tr '\n' ' '; }
for ro in "" "-r"; do
  # shellcheck disable=SC2086
  ours=$(caps "$NBDKIT" $ro)
  # shellcheck disable=SC2086
  ref=$(caps "$REF_NBDKIT" $ro)
  [[ "$ref" == *can_zero* ]] || fail "Debian's nbdinfo printed nothing: '$ref'"
  expect_eq "$ours" "$ref" "nbdinfo with '$ro'"
done

# The man page's examples: copying the export onto itself passes.
timeout 20 "$NBDKIT" -U - --filter=checkwrite data "@32768 1" --run "$NBDCOPY \"\$uri\" \"\$uri\"" ||
  fail "nbdcopy \$uri \$uri over data"
head -c 2M /dev/urandom > "$T/disk.img"
truncate -s +1M "$T/disk.img"  # a zero tail that nbdcopy sends as zero requests
cp "$T/disk.img" "$T/orig.img"
timeout 20 "$NBDKIT" -U - --filter=checkwrite file "$T/disk.img" --run "$NBDCOPY \"\$uri\" \"\$uri\"" ||
  fail "nbdcopy \$uri \$uri over file"
timeout 20 "$NBDKIT" -U - --filter=checkwrite file "$T/disk.img" --run "$NBDCOPY \"\$uri\" \"\$uri\"" ||
  fail "Debian's nbdcopy \$uri \$uri over file"
timeout 20 "$NBDKIT" -U - --filter=checkwrite file "$T/disk.img" --run 'qemu-img convert -n -f raw -O raw "$uri" "$uri"' ||
  fail "qemu-img convert \$uri \$uri"

# Verifying a copy: the plugin holds the expected data, the copy is written to the export.
start_server "$T/sock" --filter=checkwrite file "$T/disk.img"
timeout 20 "$NBDCOPY" "$T/orig.img" "nbd+unix:///?socket=$T/sock" || fail "verifying a correct copy"

# The plugin's view (log filter below): only reads and extents, never a write.
timeout 20 "$NBDKIT" -U - --filter=checkwrite --filter=log file "$T/disk.img" logfile="$T/log" \
  --run "$NBDCOPY \"\$uri\" \"\$uri\"" || fail "copy with the log filter"
grep -q ' Read ' "$T/log" || fail "the log filter saw no reads"
grep -qE ' (Write|Zero|Trim|Flush) ' "$T/log" && fail "a write reached the plugin: $(grep -E ' (Write|Zero|Trim|Flush) ' "$T/log" | head -1)"

# Negative: a copy that differs in one byte fails with EIO and leaves the plugin's data alone.
cp "$T/orig.img" "$T/bad.img"
printf '\x01' | dd of="$T/bad.img" bs=1 seek=2500000 conv=notrunc status=none  # inside the zero tail
if timeout 20 "$NBDCOPY" "$T/bad.img" "nbd+unix:///?socket=$T/sock" 2>"$T/err"; then
  fail "nbdcopy of different data succeeded"
fi
grep -q "Input/output error" "$T/err" || fail "nbdcopy did not report EIO: $(cat "$T/err")"
cmp "$T/disk.img" "$T/orig.img" || fail "checkwrite changed the plugin's data"

# Negative: qemu-io writes that differ, and zeroes over data, fail; identical writes succeed.
out=$(timeout 20 qemu-io -f raw -c "write -P 0 2M 64k" -c "write -P 0x5a 0 512" -c "write -z 0 4096" \
  "nbd+unix:///?socket=$T/sock" 2>&1)
expect_contains "$out" "wrote 65536/65536 bytes at offset 2097152" "qemu-io identical write"
[ "$(grep -c 'failed: Input/output error' <<<"$out")" -eq 2 ] || fail "qemu-io: expected two EIO failures: $out"
cmp "$T/disk.img" "$T/orig.img" || fail "qemu-io changed the plugin's data"
pass
