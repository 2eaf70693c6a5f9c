#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Holes on the wire: with structured replies, a read of 128 KiB or more comes back as
# OFFSET_HOLE chunks where it reads as zeroes (src/server/read_chunks.cc): from the plugin's
# extents when it is alone, from all-zero blocks of what was read when filters are stacked. Checked through
# libnbd's pread_structured (chunk types, offsets, lengths), the bytes every client reads
# (ours, libnbd, qemu-io, qemu-img), the bytes loopback carries, and the cases that must
# still send data: DF, --no-sr, small reads, data without zeroes, read errors.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer qemu-io qemu-img
PY=/usr/bin/python3
$PY -c 'import nbd' 2>/dev/null || fail "python3-libnbd is not installed (scripts/install-deps.sh)"

# 4 MiB: data at 0..64K (0x11), at 1M..1M+4K (0x22), 3 bytes at 3M+5 and one at 3M+8K-1.
DATA=(data '( 0x11 )*65536 @1048576 ( 0x22 )*4096 @3145733 1 2 3 @3153919 4' size=4M)
python3 - "$T/expect" <<'PY'
import sys
b = bytearray(4 << 20)
b[0:65536] = b"\x11" * 65536
b[1 << 20:(1 << 20) + 4096] = b"\x22" * 4096
b[3145733:3145736] = b"\x01\x02\x03"
b[3153919] = 4
open(sys.argv[1], "wb").write(b)
PY

chunks() {  # URI OFFSET COUNT [FLAGS]: each chunk of one read as "type offset length"
  $PY - "$@" <<'PY'
import sys, nbd
uri, off, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flags = int(sys.argv[4]) if len(sys.argv) > 4 else 0
h = nbd.NBD()
h.connect_uri(uri)
out = []
def cb(buf, offset, status, err):
    kind = {nbd.READ_DATA: "data", nbd.READ_HOLE: "hole", nbd.READ_ERROR: "error"}[status]
    out.append(f"{kind} {offset} {len(buf)}")
    return 0
h.pread_structured(count, off, cb, flags)
print(" / ".join(out))
PY
}
DF=$($PY -c 'import nbd; print(nbd.CMD_FLAG_DF)')

# The plugin alone reports extents (the data plugin: 32 KiB pages): holes are what it reports,
# and only the data chunks are read from it.
S=$T/s.sock
start_server "$S" -v "${DATA[@]}" 2>"$T/s.log"
U="nbd+unix:///?socket=$S"
expect_eq "$(chunks "$U" 0 1048576)" "data 0 65536 / hole 65536 983040" "extents: the first MiB"
expect_eq "$(chunks "$U" 983040 131072)" "hole 983040 65536 / data 1048576 32768 / hole 1081344 32768" \
  "extents: around the second run"
expect_eq "$(chunks "$U" 2097152 131072)" "hole 2097152 131072" "extents: an all-zero read is one hole"
grep -q "pread count=32768 offset=1048576" "$T/s.log" || fail "extents: the data chunk was not read"
grep -q "pread count=.* offset=983040" "$T/s.log" && fail "extents: a hole was read from the plugin"
# The negative cases: DF gets one data chunk, a read under 128 KiB is data.
expect_eq "$(chunks "$U" 0 1048576 "$DF")" "data 0 1048576" "extents: DF is one chunk"
expect_eq "$(chunks "$U" 65536 65536)" "data 65536 65536" "extents: a 64 KiB read is data"

# With a filter in the stack every read reaches the plugin as before, and the 4 KiB blocks
# that come back all zero are sent as holes.
S2=$T/scan.sock
start_server "$S2" --filter=noextents "${DATA[@]}"
U2="nbd+unix:///?socket=$S2"
expect_eq "$(chunks "$U2" 983040 131072)" "hole 983040 65536 / data 1048576 4096 / hole 1052672 61440" \
  "scan: around the second run"
expect_eq "$(chunks "$U2" 3080192 131072)" "hole 3080192 65536 / data 3145728 8192 / hole 3153920 57344" \
  "scan: bytes in two blocks make both data"
expect_eq "$(chunks "$U2" 1052576 131072)" "data 1052576 96 / hole 1052672 130976" "scan: unaligned edges"
expect_eq "$(chunks "$U2" 0 131072)" "data 0 65536 / hole 65536 65536" "scan: data then zeroes"
expect_eq "$(chunks "$U2" 0 1048576 "$DF")" "data 0 1048576" "scan: DF is one chunk"
S4=$T/pattern.sock
start_server "$S4" --filter=noextents pattern 4M
expect_eq "$(chunks "nbd+unix:///?socket=$S4" 0 1048576)" "data 0 1048576" "scan: data without zeroes is one chunk"

# Every client reads the same bytes: ours (--no-extents: every byte is read), libnbd, qemu.
for u in "$U" "$U2"; do
  $NBDCOPY --no-extents "$u" "$T/ours" || fail "nbdcopy failed"
  cmp "$T/ours" "$T/expect" || fail "nbdcopy --no-extents read wrong bytes from $u"
done
$PY -c "
import nbd, sys
h = nbd.NBD(); h.connect_uri('$U')
sys.stdout.buffer.write(b''.join(h.pread(1 << 20, o) for o in range(0, 4 << 20, 1 << 20)))" >"$T/libnbd"
cmp "$T/libnbd" "$T/expect" || fail "libnbd read wrong bytes"
qemu-img convert -f raw -O raw "$U" "$T/qemu" || fail "qemu-img convert failed"
cmp "$T/qemu" "$T/expect" || fail "qemu-img read wrong bytes"
out=$(qemu-io -r -f raw "$U" -c 'read -P 0x11 0 64k' -c 'read -P 0 64k 960k' -c 'read -P 0x22 1M 4k' 2>&1)
[ "$(grep -c '^read ' <<<"$out")" -eq 3 ] && ! grep -q "Pattern verification failed" <<<"$out" ||
  fail "qemu-io pattern reads: $out"
out=$(qemu-io -r -f raw "$U" -c 'read -P 0 0 64k' 2>&1)
grep -q "Pattern verification failed" <<<"$out" || fail "qemu-io: a wrong pattern was not caught: $out"

# Bytes on the wire: a 256 MiB all-zero read over TCP costs a few KiB from us, all of it
# without structured replies (--no-sr), the negative case.
wire() {  # extra nbdkit options...: loopback bytes to read 256 MiB of zero
  local port pid before
  port=$(free_port)
  bg "$NBDKIT" -f -i 127.0.0.1 -p "$port" -P "$T/w.pid" "$@" size=256M
  wait_for_file "$T/w.pid"
  before=$(cat /sys/class/net/lo/statistics/tx_bytes)
  $NBDCOPY --no-extents "nbd://127.0.0.1:$port" null: || fail "nbdcopy over TCP failed"
  echo $(( $(cat /sys/class/net/lo/statistics/tx_bytes) - before ))
  kill "$(cat "$T/w.pid")"; rm -f "$T/w.pid"
}
w=$(wire data '')
[ "$w" -lt $((4 << 20)) ] || fail "256 MiB of holes took $w bytes on the wire"
w=$(wire --filter=noextents data '')
[ "$w" -lt $((4 << 20)) ] || fail "scan: 256 MiB of zeroes took $w bytes on the wire"
w=$(wire --no-sr data '')
[ "$w" -gt $((256 << 20)) ] || fail "--no-sr: 256 MiB took only $w bytes on the wire"

# A read error in a data chunk fails the whole read with the error, and nothing else.
S3=$T/err.sock
start_server "$S3" --filter=error "${DATA[@]}" error-pread=EIO error-pread-rate=1
out=$(chunks "nbd+unix:///?socket=$S3" 0 1048576 0 2>&1)
expect_contains "$out" "Input/output error" "a failed read"
[[ "$out" != *"hole"* ]] || fail "a failed read sent chunks: $out"
pass
