#!/usr/bin/env bash
# memory plugin through our server, written and read by Debian's nbdcopy, qemu-io and nbdinfo;
# the bytes must match what Debian's nbdkit memory plugin keeps for the same writes.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

head -c 3M /dev/urandom > "$T/src.img"
allocs="sparse malloc"
# mlock needs root or a locked-memory limit above the disk size.
if [ "$(id -u)" -eq 0 ] || [ "$(ulimit -l)" = unlimited ] || [ "$(ulimit -l)" -ge 4096 ]; then
  allocs="$allocs malloc,mlock=true"
fi
for alloc in $allocs; do
  rm -f "$T/out.img"
  "$NBDKIT" -U - memory 3M allocator=$alloc --run \
    "$NBDCOPY --connections=4 $T/src.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/out.img" ||
    fail "copy through memory allocator=$alloc failed"
  cmp "$T/src.img" "$T/out.img" || fail "allocator=$alloc did not return what was written"
done

# The same qemu-io writes, zeroes and trims against ours and Debian's: identical bytes.
cat > "$T/ops.sh" <<'OPS'
qemu-io -f raw "$1" -c 'write -P 0x11 0 100k' -c 'write -P 0x22 1000 5' -c 'write -z 4096 8192' \
  -c 'discard 65536 32768' -c 'write -P 0x33 2M 1' -c 'write -P 0x44 4194303 1' >/dev/null &&
  /usr/bin/nbdcopy "$1" "$2"
OPS
"$NBDKIT" -U - memory 4M --run "bash $T/ops.sh \"\$uri\" $T/ours.img" || fail "qemu-io against ours failed"
"$REF_NBDKIT" -U - memory 4M --run "bash $T/ops.sh \"\$uri\" $T/ref.img" || fail "qemu-io against Debian's failed"
cmp "$T/ours.img" "$T/ref.img" || fail "contents differ from Debian's nbdkit memory plugin"

# Sparseness is visible: a 1G disk with 64K written at 1M maps as hole, data, hole.
map=$("$NBDKIT" -U - memory 1G --run \
  "qemu-io -f raw \"\$uri\" -c 'write -P 0x55 1M 64k' >/dev/null && $NBDINFO --map \"\$uri\"" | awk '{print $1, $2, $4}')
expect_eq "$map" "0 1048576 hole,zero
1048576 65536 data
1114112 1072627712 hole,zero" "nbdinfo --map of a sparse memory disk"

# Flags as upstream: writable, trim, zero, fast zero, FUA, multi-conn.
info=$("$NBDKIT" -U - memory 1M --run "$NBDINFO \"\$uri\"")
for f in "is_read_only: false" "can_trim: true" "can_zero: true" "can_fast_zero: true" \
         "can_fua: true" "can_multi_conn: true" "can_flush: true"; do
  expect_contains "$info" "$f" "nbdinfo flags"
done

# allocator=zstd: a 4 GiB disk holding 256 MiB of compressible data in a fraction of the RAM,
# the same bytes back, and Debian's zstd allocator agrees on them.
yes "a line of a compressible disk image, with a counter-free text" | head -c 256M > "$T/text.img"
want=$(sha256sum < "$T/text.img")
start_server "$T/z.sock" memory 4G allocator=zstd
"$NBDCOPY" "$T/text.img" "nbd+unix://?socket=$T/z.sock" || fail "allocator=zstd: write"
got=$("$NBDCOPY" "nbd+unix://?socket=$T/z.sock" - | head -c 256M | sha256sum)
expect_eq "$got" "$want" "allocator=zstd: the bytes back"
# (Not under AddressSanitizer, whose shadow memory and quarantine of freed blocks are RSS too.)
if [[ "$(ldd "$NBDKIT")" == *libasan* ]]; then  # (not ldd | grep -q: under pipefail grep's early exit fails ldd)
  echo "note: AddressSanitizer build: the RSS bound of allocator=zstd is checked in the plain build" >&2
else
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$(cat "$T/z.sock.pid")/status")
  [ "$rss" -lt 65536 ] || fail "allocator=zstd: 256 MiB of text took $rss KiB of RSS (want < 64 MiB)"
fi
ref=$("$REF_NBDKIT" -U - memory 4G allocator=zstd --run "$NBDCOPY $T/text.img \$uri && $NBDCOPY \$uri - | head -c 256M | sha256sum")
expect_eq "$ref" "$want" "Debian's allocator=zstd, same bytes"
expect_contains "$("$NBDKIT" memory --dump-plugin)" "zstd=yes" "--dump-plugin says zstd"

# Negative: a missing size and a bad allocator are one-line errors naming the parameter.
expect_fail_line 1 "size" "$NBDKIT" -U - memory --run true
expect_fail_line 1 "allocator=bogus" "$NBDKIT" -U - memory 1M allocator=bogus --run true
expect_fail_line 1 "allocator=zstd,level=3" "$NBDKIT" -U - memory 1M allocator=zstd,level=3 --run true
pass
