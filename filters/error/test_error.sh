#!/usr/bin/env bash
# error filter through our server: Debian's nbdsh sees the same errors, at the same moments, as
# under Debian's nbdkit with the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

script='
import os
def attempt(name, f):
    try:
        f()
        print(name, "ok")
    except nbd.Error as e:
        print(name, errno.errorcode[e.errnum])
trigger = os.environ["TRIGGER"]
attempt("pwrite", lambda: h.pwrite(b"abc" * 100, 0))
attempt("pread", lambda: h.pread(300, 0))
attempt("zero", lambda: h.zero(512, 4096))
attempt("trim", lambda: h.trim(512, 4096))
attempt("flush", lambda: h.flush())
open(trigger, "w").close()
attempt("pwrite-triggered", lambda: h.pwrite(b"x", 0))
attempt("trim-triggered", lambda: h.trim(512, 4096))
os.unlink(trigger)
attempt("pwrite-untriggered", lambda: h.pwrite(b"x", 1))
'
run() {  # run SERVER FILE: the script against SERVER serving FILE under the error filter
  rm -f "$T/trigger"
  TRIGGER=$T/trigger "$1" -U - --filter=error file "$2" error=ENOSPC error-pread-rate=100% \
    error-zero=EPERM error-zero-rate=1 error-pwrite-rate=1 error-pwrite-file="$T/trigger" \
    --run "$REF_NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null
}
truncate -s 64K "$T/ours.img" "$T/ref.img"
ours=$(run "$NBDKIT" "$T/ours.img") || fail "our error stack failed"
ref=$(run "$REF_NBDKIT" "$T/ref.img") || fail "reference error stack failed"
expect_eq "$ours" "$ref" "errors seen by nbdsh"
expect_contains "$ours" "pread ENOSPC" "injected read error"
expect_contains "$ours" "pwrite-triggered ENOSPC" "error while the trigger file exists"
cmp "$T/ours.img" "$T/ref.img" || fail "writes that were let through differ"
expect_eq "$(head -c 3 "$T/ours.img")" "axc" "writes let through reached the file"

# Negative: an unknown error name is one line naming it.
expect_fail_line 1 "error=EFOO" "$NBDKIT" -U - --filter=error null 1M error=EFOO --run true
pass
