#!/usr/bin/env bash
# error filter through our server: Debian's nbdsh sees the same errors, at the same moments, as
# under Debian's nbdkit with the same filter stack.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

script='
import errno, os
def attempt(name, f):
    try:
        r = f()
        print(name, "ok" if r is None else r)
    except nbd.Error as e:
        print(name, errno.errorcode[e.errnum])
trigger = os.environ["TRIGGER"]
attempt("pwrite", lambda: h.pwrite(b"abc" * 100, 0))
attempt("pread", lambda: h.pread(3, 0))
attempt("zero", lambda: h.zero(512, 4096))
attempt("trim", lambda: h.trim(512, 4096))
attempt("flush", lambda: h.flush())
open(trigger, "w").close()
attempt("pwrite-triggered", lambda: h.pwrite(b"x", 0))
attempt("pread-triggered", lambda: h.pread(3, 0))
attempt("trim-triggered", lambda: h.trim(512, 4096))
os.unlink(trigger)
attempt("pwrite-untriggered", lambda: h.pwrite(b"x", 1))
attempt("pread-untriggered", lambda: h.pread(3, 0))
'
run() {  # run SERVER: the script against SERVER's memory disk under the error filter
  rm -f "$T/trigger"
  TRIGGER=$T/trigger "$1" -U - --filter=error memory 64K error=ENOSPC error-zero=EPERM error-zero-rate=1 \
    error-pwrite-rate=1 error-pread-rate=100% error-pwrite-file="$T/trigger" error-pread-file="$T/trigger" \
    --run "$NBDSH -u \"\$uri\" -c '$script'" 2>/dev/null
}
ours=$(run "$NBDKIT") || fail "our error stack failed"
ref=$(run "$REF_NBDKIT") || fail "reference error stack failed"
expect_eq "$ours" "$ref" "errors seen by nbdsh"
expect_contains "$ours" "zero EPERM" "injected zero error"
expect_contains "$ours" "pread-triggered ENOSPC" "error while the trigger file exists"
expect_contains "$ours" "pread-untriggered bytearray(b'axc')" "writes let through reached the disk"

# Negative: an unknown error name is one line naming it.
expect_fail_line 1 "error=EFOO" "$NBDKIT" -U - --filter=error null 1M error=EFOO --run true
pass
