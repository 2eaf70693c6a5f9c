#!/usr/bin/env bash
# blocksize filter through our server over a fussy sh plugin that fails (EINVAL) any request
# not aligned to 4 KiB or larger than 16 KiB: reads and writes at odd offsets through the filter
# give the same bytes as Debian's nbdkit with the same stack; without the filter they fail.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit nbdcopy qemu-io

cat >"$T/fussy.sh" <<'SCRIPT'
#!/bin/bash
disk=$DISK
check() {  # COUNT OFFSET
  if (( $2 % 4096 || $1 % 4096 || $1 > 16384 )); then
    echo "EINVAL fussy: $METHOD count $1 offset $2" >&2; exit 1
  fi
}
METHOD=$1
case "$1" in
  thread_model) echo parallel ;;
  get_size) stat -c %s "$disk" ;;
  block_size) echo 4096 4096 16384 ;;
  can_write|can_flush|can_trim|can_zero) exit 0 ;;
  can_multi_conn) exit 0 ;;
  pread) check "$3" "$4"; dd if="$disk" skip="$4" count="$3" iflag=skip_bytes,count_bytes status=none ;;
  pwrite) check "$3" "$4"; dd of="$disk" seek="$4" bs="$3" count=1 iflag=fullblock oflag=seek_bytes conv=notrunc status=none ;;
  zero|trim) check "$3" "$4"; dd if=/dev/zero of="$disk" seek="$4" bs="$3" count=1 oflag=seek_bytes conv=notrunc status=none ;;
  flush) ;;
  *) exit 2 ;;
esac
SCRIPT
chmod +x "$T/fussy.sh"

# The same qemu-io session (writes, zeroes, trims at odd offsets and lengths) on a fresh 256 KiB
# disk under NBDKIT; prints the disk's checksum afterwards and the bytes read back.
session() {  # session NBDKIT [PARAMS...]: the blocksize filter with PARAMS over the fussy plugin
  local kit=$1; shift
  python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 255 for i in range(262144)))' >"$T/disk"
  DISK=$T/disk "$kit" -U - --filter=blocksize sh "$T/fussy.sh" "$@" --run '
    qemu-io -f raw "$uri" -c "write -P 0x41 1000 5000" -c "write -P 0x42 12287 3" \
      -c "write -P 0x43 40000 30000" -c "write -z 100001 9999" -c "discard 131073 20000" \
      -c "read -P 0x41 1000 5000" -c "read -P 0x43 40000 30000" -c "read -P 0 100001 9999" \
      -c "read -P 0x42 12287 3" 2>&1 | grep -c "^read .* bytes"
    '"$NBDCOPY"' "$uri" '"$T"'/copy.img' || return 1
  md5sum <"$T/disk" | cut -d" " -f1
  cmp "$T/copy.img" "$T/disk" || echo "copy differs from disk"
}
ours=$(session "$NBDKIT" maxdata=12k) || fail "session through our blocksize"
ref=$(session "$REF_NBDKIT" maxdata=12k) || fail "session through Debian's blocksize"
echo "$ours"
expect_eq "$ours" "$ref" "reads (all 4 verified) and disk checksum, ours vs Debian's"
expect_eq "$(head -1 <<<"$ours")" "4" "qemu-io verified reads"

# Advertised block sizes: widest limits, the plugin's preferred size (or minblock if larger).
info=$(DISK=$T/disk "$NBDKIT" -U - --filter=blocksize sh "$T/fussy.sh" minblock=8k --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "block_size_minimum: 1" "advertised minimum"
expect_contains "$info" "block_size_preferred: 8192" "advertised preferred"
ref=$(DISK=$T/disk "$REF_NBDKIT" -U - --filter=blocksize sh "$T/fussy.sh" minblock=8k --run "/usr/bin/nbdinfo \"\$uri\"")
expect_contains "$ref" "block_size_preferred: 8192" "Debian's advertised preferred"

# Negative: without the filter, an unaligned write from a client that does not align for itself
# (nbdsh with strict mode off; qemu-io would read-modify-write on its own) fails.
script='
h.set_strict_mode(0)
try:
    h.pwrite(b"A" * 5000, 1000)
    print("written")
except nbd.Error as e:
    print("refused", e.errnum == errno.EINVAL)
'
out=$(DISK=$T/disk "$NBDKIT" -U - sh "$T/fussy.sh" --run "$NBDSH -u \"\$uri\" -c 'import errno' -c '$script'")
expect_eq "$out" "refused True" "unaligned write without the filter"
out=$(DISK=$T/disk "$NBDKIT" -U - --filter=blocksize sh "$T/fussy.sh" --run "$NBDSH -u \"\$uri\" -c 'import errno' -c '$script'")
expect_eq "$out" "written" "unaligned write from nbdsh through the filter"

# Bad limits are one line each.
expect_fail_line 1 "minblock must be a power of 2" "$NBDKIT" -U - --filter=blocksize null 1M minblock=3k --run true
expect_fail_line 1 "maxdata must be a multiple of 4096" "$NBDKIT" -U - --filter=blocksize null 1M minblock=4k \
  maxdata=6000 --run true
expect_fail_line 1 "maxlen=0" "$NBDKIT" -U - --filter=blocksize null 1M maxlen=0 --run true
pass
