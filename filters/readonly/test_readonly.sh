#!/usr/bin/env bash
# readonly filter through our server: without readonly-file the export is read-only (nbdinfo
# says so, writes fail); with it, one client's writes succeed, fail with EPERM while the file
# exists, and succeed again after it is removed; the bytes show which writes landed.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer python3

out=$("$NBDKIT" -U - --filter=readonly memory 1M --run "\"$NBDINFO\" --json \"\$uri\"") || fail "nbdinfo"
expect_contains "$out" '"is_read_only": true' "always read-only"
out=$("$NBDKIT" -U - memory 1M --run "\"$NBDINFO\" --json \"\$uri\"") || fail "nbdinfo without filter"
expect_contains "$out" '"is_read_only": false' "writable without the filter"

script='
import errno, nbd, os, sys
h = nbd.NBD(); h.connect_unix(sys.argv[1]); ro = sys.argv[2]
def attempt(data, off):
    try:
        h.pwrite(data, off); return "ok"
    except nbd.Error as e:
        return errno.errorcode[e.errnum]
r = [attempt(b"AAAA", 0)]
open(ro, "w").close()
r += [attempt(b"BBBB", 0)]
try:
    h.zero(512, 0); r += ["zero-ok"]
except nbd.Error as e:
    r += ["zero-" + errno.errorcode[e.errnum]]
os.unlink(ro)
r += [attempt(b"CC", 2)]
r += [h.pread(4, 0).decode()]
print(" ".join(r))
'
start_server "$T/sock" --filter=readonly memory 1M readonly-file="$T/ro"
out=$(/usr/bin/python3 -c "$script" "$T/sock" "$T/ro") || fail "client: $out"
expect_eq "$out" "ok EPERM zero-EPERM ok AACC" "writes switched by readonly-file"

expect_fail_line 1 "readonly-file=" "$NBDKIT" -U - --filter=readonly null 1M readonly-file= --run true
pass
