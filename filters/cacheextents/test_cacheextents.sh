#!/usr/bin/env bash
# cacheextents filter through our server: qemu-img map (one REQ_ONE block-status request per
# extent) costs the plugin one call instead of one per extent, the map is the one Debian's
# nbdkit gives without the filter, and a write seen by the next map.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-img qemu-io nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# 1 MiB: 32 KiB of data every 64 KiB, holes between (32 extents).
img=$T/disk.img
truncate -s 1M "$img"
for i in $(seq 0 16 255); do dd if=/dev/urandom of="$img" bs=4k seek="$i" count=8 conv=notrunc status=none; done

map() { "$1" -U - $2 --run 'qemu-img map --output=json "$uri"'; }
calls() { grep -c ' Extents id=.* count=' "$1"; }  # requests reaching the plugin, not replies

ours=$(map "$NBDKIT" "--filter=cacheextents --filter=log file $img logfile=$T/with.log")
ref=$(map "$REF_NBDKIT" "file $img")
[ "$(grep -c '"data": true' <<<"$ref")" = 16 ] || fail "reference map has not 16 data extents: $ref"
expect_eq "$ours" "$ref" "qemu-img map through cacheextents equals Debian's nbdkit without it"
n_with=$(calls "$T/with.log")
# Negative: the same map without the filter asks once per extent.
map "$NBDKIT" "--filter=log file $img logfile=$T/without.log" >/dev/null
n_without=$(calls "$T/without.log")
[ "$n_without" -ge 32 ] || fail "without cacheextents the plugin saw only $n_without block-status calls"
[ "$n_with" -le 2 ] || fail "with cacheextents the plugin saw $n_with block-status calls (expected 1-2)"
! grep -q 'Extents id=.* req_one=1' "$T/with.log" || fail "the plugin was asked with REQ_ONE through cacheextents"

# A write between two maps on the same server: the second map sees it (the cache was emptied).
out=$("$NBDKIT" -U - --filter=cacheextents file "$img" --run '
  qemu-img map --output=json "$uri" >/dev/null &&
  qemu-io -f raw -c "write -P 0x55 32768 4096" "$uri" >/dev/null &&
  qemu-img map --output=json "$uri" | head -1')
expect_contains "$out" '"start": 0, "length": 36864' "map after a write into the first hole"

# Same bytes through the filter.
expect_eq "$("$NBDKIT" -U - --filter=cacheextents file "$img" --run 'nbdcopy "$uri" - | md5sum')" \
  "$(md5sum <"$img")" "bytes through cacheextents"
pass
