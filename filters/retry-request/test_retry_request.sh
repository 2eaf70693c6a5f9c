#!/usr/bin/env bash
# retry-request filter through our server: reads that fail a few times are retried on the same
# plugin connection (no reopen) and the copy is exact; when failures outlast the retries the
# client gets EIO after exactly 1 + retries attempts; open is retried unless told not to.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

# A sh plugin serving $DISK: its first $FAILS preads and its first $OPEN_FAILS opens fail.
cat > "$T/flaky.sh" <<'SH'
#!/bin/bash
bump() { local n; n=$(cat "$1" 2>/dev/null || echo 0); echo $((n + 1)) > "$1"; echo "$n"; }
case "$1" in
  thread_model) echo serialize_all_requests ;;
  open)
    n=$(bump "$OPENS")
    if [ "$n" -lt "${OPEN_FAILS:-0}" ]; then echo "EIO open failure $n" >&2; exit 1; fi
    echo h ;;
  get_size) stat -c %s "$DISK" ;;
  pread)
    n=$(bump "$COUNT")
    if [ "$n" -lt "$FAILS" ]; then echo "EIO injected failure $n" >&2; exit 1; fi
    dd if="$DISK" skip="$4" count="$3" iflag=skip_bytes,count_bytes status=none ;;
  *) exit 2 ;;
esac
SH
chmod +x "$T/flaky.sh"
head -c 2M /dev/urandom > "$T/disk.img"
export DISK=$T/disk.img COUNT=$T/count OPENS=$T/opens

rm -f "$COUNT" "$OPENS"
FAILS=2 timeout 60 "$NBDKIT" -U - --filter=retry-request sh "$T/flaky.sh" retry-request-delay=10ms \
  --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "copy through retry-request did not recover"
expect_eq "$(sha256sum < "$T/out.img")" "$(sha256sum < "$DISK")" "checksum after retried reads"
expect_eq "$(cat "$OPENS")" "1" "retry-request never reopens"

script='
try:
    print("ok", h.pread(4, 0) == open(__import__("os").environ["DISK"], "rb").read(4))
except nbd.Error as e:
    print("error", e.errnum)
'
# Same outcome and counts as Debian's nbdkit (whose delay takes whole seconds).
for server in "$NBDKIT" "$REF_NBDKIT"; do
  rm -f "$COUNT" "$OPENS"
  out=$(FAILS=2 OPEN_FAILS=1 timeout 60 "$server" -U - --filter=retry-request sh "$T/flaky.sh" \
    retry-request-retries=2 retry-request-delay=1 --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null) ||
    fail "$server: nbdsh"
  expect_eq "$out $(cat "$COUNT") $(cat "$OPENS")" "ok True 3 2" "$server: attempts to recover"
done

# Negative: failures outlast retry-request-retries=3: EIO after 4 attempts.
rm -f "$COUNT" "$OPENS"
out=$(FAILS=100 timeout 60 "$NBDKIT" -U - --filter=retry-request sh "$T/flaky.sh" retry-request-retries=3 \
  retry-request-delay=5ms --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null) || fail "nbdsh, no recovery"
expect_eq "$out $(cat "$COUNT")" "error 5 4" "EIO after 1 + retries attempts"

# Negative: with retry-request-open=false a failed open is not retried: the client is refused.
rm -f "$COUNT" "$OPENS"
FAILS=0 OPEN_FAILS=1 timeout 60 "$NBDKIT" -U - --filter=retry-request sh "$T/flaky.sh" retry-request-open=false \
  retry-request-delay=5ms --run "$NBDSH -u \"\$uri\" -c '$script'" >/dev/null 2>&1 &&
  fail "open succeeded although it was not retried"
expect_eq "$(cat "$OPENS")" "1" "one open attempt with retry-request-open=false"

expect_fail_line 1 "retry-request-delay" "$NBDKIT" -U - --filter=retry-request null 1M retry-request-delay=0 --run true
expect_fail_line 1 "retry-request-open" "$NBDKIT" -U - --filter=retry-request null 1M retry-request-open=maybe \
  --run true
pass
