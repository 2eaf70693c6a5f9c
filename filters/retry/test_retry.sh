#!/usr/bin/env bash
# retry filter through our server: a plugin whose first reads fail is copied cleanly (same
# checksum as the disk) because the filter reopens it and retries; when the failures outlast
# the retries, the client gets the error after exactly 1 + retries attempts.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

# A sh plugin serving $DISK whose first $FAILS preads fail with EIO; $COUNT counts attempts and
# $OPENS counts opens (one per reopen). Requests are serialized so the counts are exact.
cat > "$T/flaky.sh" <<'SH'
#!/bin/bash
case "$1" in
  thread_model) echo serialize_all_requests ;;
  open) n=$(cat "$OPENS" 2>/dev/null || echo 0); echo $((n + 1)) > "$OPENS"; echo h ;;
  get_size) stat -c %s "$DISK" ;;
  pread)
    n=$(cat "$COUNT" 2>/dev/null || echo 0); echo $((n + 1)) > "$COUNT"
    if [ "$n" -lt "$FAILS" ]; then echo "EIO injected failure $n" >&2; exit 1; fi
    dd if="$DISK" skip="$4" count="$3" iflag=skip_bytes,count_bytes status=none ;;
  *) exit 2 ;;
esac
SH
chmod +x "$T/flaky.sh"
head -c 3M /dev/urandom > "$T/disk.img"
export DISK=$T/disk.img COUNT=$T/count OPENS=$T/opens

# Recovery: 3 failed reads, retried with a short delay, give the disk's exact bytes.
rm -f "$COUNT" "$OPENS"
FAILS=3 timeout 60 "$NBDKIT" -U - --filter=retry sh "$T/flaky.sh" retry-delay=10ms \
  --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "copy through retry did not recover"
expect_eq "$(sha256sum < "$T/out.img")" "$(sha256sum < "$DISK")" "checksum after retries"
expect_eq "$(cat "$OPENS")" "4" "one open plus one reopen per failure"

# Debian's nbdcopy as the client, and a read-only reopen with retry-readonly.
rm -f "$COUNT" "$OPENS" "$T/out.img"
FAILS=1 timeout 60 "$NBDKIT" -U - --filter=retry sh "$T/flaky.sh" retry-delay=10ms retry-readonly=yes \
  --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "Debian nbdcopy through retry did not recover"
cmp "$T/out.img" "$DISK" || fail "data differs after a read-only reopen"

# Same counts as Debian's nbdkit with the same script (its retry-delay takes whole seconds).
script='
try:
    h.pread(512, 0)
    print("ok")
except nbd.Error as e:
    print("error", e.errnum)
'
for server in "$NBDKIT" "$REF_NBDKIT"; do
  rm -f "$COUNT" "$OPENS"
  out=$(FAILS=2 timeout 60 "$server" -U - --filter=retry sh "$T/flaky.sh" retries=3 retry-delay=1 \
    retry-exponential=no --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null) || fail "$server: nbdsh"
  expect_eq "$out $(cat "$COUNT") $(cat "$OPENS")" "ok 3 3" "$server: reads and opens to recover"
done

# Negative: failures outlast retries=2, so the read fails with EIO after 3 attempts.
rm -f "$COUNT" "$OPENS"
out=$(FAILS=100 timeout 60 "$NBDKIT" -U - --filter=retry sh "$T/flaky.sh" retries=2 retry-delay=5ms \
  --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null) || fail "nbdsh when retries run out"
expect_eq "$out $(cat "$COUNT")" "error 5 3" "EIO after 1 + retries attempts"
rm -f "$COUNT"
FAILS=100 timeout 60 "$NBDKIT" -U - --filter=retry sh "$T/flaky.sh" retries=1 retry-delay=5ms \
  --run "$NBDCOPY \"\$uri\" $T/never.img" 2>/dev/null && fail "nbdcopy succeeded although every read fails"

# Negative: values that cannot be honoured are refused with one line naming the parameter.
expect_fail_line 1 "retry-delay" "$NBDKIT" -U - --filter=retry null 1M retry-delay=0 --run true
expect_fail_line 1 "retries" "$NBDKIT" -U - --filter=retry null 1M retries=-1 --run true
expect_fail_line 1 "retry-readonly" "$NBDKIT" -U - --filter=retry null 1M retry-readonly=maybe --run true
pass
