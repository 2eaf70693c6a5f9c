#!/usr/bin/env bash
# blocksize-policy filter through our server: nbdinfo (ours and Debian's) shows the same block
# sizes as under Debian's nbdkit for each defaulting case; with the error policy a bad request
# fails with EINVAL and the plugin never sees it, while with allow it reaches the plugin.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer nbdkit

# sizes NBDKIT NBDINFO ARGS...: the three block_size lines nbdinfo prints.
sizes() {
  local kit=$1 info=$2; shift 2
  "$kit" -U - --filter=blocksize-policy "$@" --run "$info \"\$uri\"" | grep block_size_ | tr -d '\t' | tr '\n' ' '
}
for args in "memory 1M blocksize-preferred=32K" "memory 1M blocksize-minimum=4k" \
  "memory 1M blocksize-minimum=512 blocksize-preferred=64k blocksize-maximum=1M" \
  "memory 1M blocksize-maximum=64k"; do
  ours=$(sizes "$NBDKIT" "$NBDINFO" $args) || fail "nbdinfo on $args"
  ref=$(sizes "$REF_NBDKIT" "$NBDINFO" $args) || fail "reference nbdinfo on $args"
  ours_ref=$(sizes "$NBDKIT" "$NBDINFO" $args) || fail "Debian's nbdinfo on our $args"
  echo "$args: $ours"
  expect_eq "$ours" "$ref" "block sizes for $args"
  expect_eq "$ours_ref" "$ref" "block sizes Debian's nbdinfo sees for $args"
done
expect_eq "$(sizes "$NBDKIT" "$NBDINFO" memory 1M blocksize-preferred=32K)" \
  "block_size_minimum: 1 block_size_preferred: 32768 block_size_maximum: 4294967295 " "preferred only"

# Over the blocksize filter (which advertises min 1, preferred 64k here): the policy's own
# minimum wins.
out=$("$NBDKIT" -U - --filter=blocksize-policy --filter=blocksize memory 1M minblock=64k blocksize-minimum=4k \
  --run "$NBDINFO \"\$uri\"" | grep -E "block_size_(minimum|preferred)" | tr -d '\t' | tr '\n' ' ')
expect_eq "$out" "block_size_minimum: 4096 block_size_preferred: 65536 " "policy over blocksize"

# The error policy: a 1-byte read at offset 1 and an over-large read fail with EINVAL, aligned
# ones pass; the same requests with allow reach the plugin.
script='
import errno
h.set_strict_mode(0)
h.pwrite(b"policy" * 2048, 0)
for count, off in ((1, 1), (4096, 100), (128 * 1024, 0), (4096, 4096)):
    try:
        print(count, off, h.pread(count, off)[:6].decode())
    except nbd.Error as e:
        print(count, off, errno.errorcode[e.errnum])
'
run() {
  "$1" -U - --filter=blocksize-policy memory 1M blocksize-minimum=4k blocksize-maximum=64k "${@:2}" \
    --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null
}
ours=$(run "$NBDKIT" blocksize-error-policy=error) || fail "error policy session"
ref=$(run "$REF_NBDKIT" blocksize-error-policy=error) || fail "reference error policy session"
expect_eq "$ours" "$ref" "error policy, ours vs Debian's"
expect_eq "$ours" "1 1 EINVAL
4096 100 EINVAL
131072 0 EINVAL
4096 4096 cypoli" "error policy"
ours=$(run "$NBDKIT" blocksize-error-policy=allow) || fail "allow policy session"
ref=$(run "$REF_NBDKIT" blocksize-error-policy=allow) || fail "reference allow policy session"
expect_eq "$ours" "$ref" "allow policy, ours vs Debian's"
expect_contains "$ours" "1 1 o
4096 100 cypoli" "allow passes unaligned reads"

# An inconsistent result (maximum below the default preferred 4096) fails the client's open.
out=$("$NBDKIT" -U - --filter=blocksize-policy memory 1M blocksize-maximum=1000 --run "$NBDINFO \"\$uri\"" 2>&1)
expect_contains "$out" "computed block size values are invalid" "inconsistent sizes"

# Bad values are one line each.
expect_fail_line 1 "unknown blocksize-error-policy" "$NBDKIT" -U - --filter=blocksize-policy null 1M \
  blocksize-error-policy=maybe --run true
expect_fail_line 1 "blocksize-minimum must be a power of 2" "$NBDKIT" -U - --filter=blocksize-policy null 1M \
  blocksize-minimum=3 --run true
expect_fail_line 1 "blocksize-preferred must be between 512 and 32M" "$NBDKIT" -U - --filter=blocksize-policy \
  null 1M blocksize-preferred=64M --run true
expect_fail_line 1 "multiple of blocksize-minimum" "$NBDKIT" -U - --filter=blocksize-policy null 1M \
  blocksize-minimum=4k blocksize-maximum=6k --run true
pass
