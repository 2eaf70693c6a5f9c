#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# nbdcopy --blkhash: the digest printed equals the blkhash construction computed independently
# here in Python (hash of each block's digest in order, then the size as 64-bit little endian)
# for files, streams and an NBD server with holes (zero blocks from block status, never read),
# for every digest and several block sizes; bad values are one-line errors.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdcopy
require_bin nbdkit

blkhash() {  # FILE [DIGEST [BLOCKSIZE]]
  /usr/bin/python3 - "$@" <<'PY'
import hashlib, sys
path = sys.argv[1]
alg = sys.argv[2] if len(sys.argv) > 2 else "sha256"
bs = int(sys.argv[3]) if len(sys.argv) > 3 else 65536
data = open(path, "rb").read()
h = hashlib.new(alg)
for i in range(0, len(data), bs):
    h.update(hashlib.new(alg, data[i:i + bs]).digest())
h.update(len(data).to_bytes(8, "little"))
print(h.hexdigest())
PY
}

# 3 MiB + 1000 bytes: data, a 1 MiB hole, data, and a short last block.
head -c 1M /dev/urandom > "$T/src.img"
truncate -s 2M "$T/src.img"
head -c $((1024 * 1024 + 1000)) /dev/urandom >> "$T/src.img"
want=$(blkhash "$T/src.img")

expect_eq "$("$NBDCOPY" --blkhash "$T/src.img" null:)" "$want" "file to null:"
expect_eq "$("$NBDCOPY" --blkhash "$T/src.img" "$T/dst.img")" "$want" "file to file"
cmp "$T/src.img" "$T/dst.img" || fail "the copy itself differs"
expect_eq "$("$NBDCOPY" --blkhash - null: < "$T/src.img")" "$want" "stream (synchronous copy)"
"$NBDCOPY" --blkhash --blkhash-file="$T/hash.txt" "$T/src.img" null: > "$T/stdout.txt" || fail "--blkhash-file"
expect_eq "$(cat "$T/hash.txt")" "$want" "--blkhash-file contents"
expect_eq "$(cat "$T/stdout.txt")" "" "nothing on stdout with --blkhash-file"

for d in md5 sha1 sha256 sha512; do
  expect_eq "$("$NBDCOPY" --blkhash=$d "$T/src.img" null:)" "$(blkhash "$T/src.img" $d)" "$d"
done
expect_eq "$("$NBDCOPY" --blkhash=sha256/4k "$T/src.img" null:)" "$(blkhash "$T/src.img" sha256 4096)" "4k blocks"
expect_eq "$("$NBDCOPY" --blkhash=md5/1M "$T/src.img" null:)" "$(blkhash "$T/src.img" md5 1048576)" "1M blocks"
# Requests smaller than a block, several threads: blocks completed from pieces.
expect_eq "$("$NBDCOPY" --request-size=4096 -T 2 --blkhash=sha1/128k "$T/src.img" null:)" \
  "$(blkhash "$T/src.img" sha1 131072)" "blocks assembled from 4K requests"

# An NBD source with holes: the zero blocks come from block status and are not read.
"$NBDKIT" -U - data "@1048576 1 2 3 @3000000 9" size=5M --run "$NBDCOPY \"\$uri\" $T/data.img" ||
  fail "export the data disk"
want=$(blkhash "$T/data.img")
out=$("$NBDKIT" -U - data "@1048576 1 2 3 @3000000 9" size=5M --run "$NBDCOPY --blkhash \"\$uri\" null:")
expect_eq "$out" "$want" "NBD source with holes"
# The empty image.
: > "$T/empty.img"
expect_eq "$("$NBDCOPY" --blkhash "$T/empty.img" null:)" "$(blkhash "$T/empty.img")" "empty image"

# A different image gives a different blkhash (the check above can fail).
printf 'x' | dd of="$T/src.img" bs=1 seek=5 conv=notrunc status=none
[ "$("$NBDCOPY" --blkhash "$T/src.img" null:)" != "$(blkhash "$T/dst.img")" ] || fail "changed byte, same hash"

expect_fail_line 1 "unknown digest 'sha3'" "$NBDCOPY" --blkhash=sha3 "$T/src.img" null:
expect_fail_line 1 "power of 2" "$NBDCOPY" --blkhash=sha256/3000 "$T/src.img" null:
pass
