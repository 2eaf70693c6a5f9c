#!/usr/bin/env bash
# ondemand plugin through our server: exports are made on first use (ext4, checked with
# e2fsck), keep their data across connections, are listed, locked while in use, and bad
# export names are refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io e2fsck
mkdir "$T/exports"
start_server "$T/sock" ondemand dir="$T/exports" size=16M label=OND
uri() { echo "nbd+unix:///$1?socket=$T/sock"; }

qemu-io -f raw -c 'write -P 0x61 8M 64k' "$(uri one)" >/dev/null || fail "write to export one"
$NBDCOPY "$(uri one)" "$T/one.img" || fail "read back export one"
cmp -n 65536 -i 8M:0 "$T/one.img" <(head -c 65536 /dev/zero | tr '\0' a) || fail "export one lost its data"
$NBDCOPY "$(uri '')" "$T/default.img" || fail "default export"
[ -f "$T/exports/default" ] || fail "the default export is not stored as 'default'"
e2fsck -fn "$T/exports/default" >/dev/null 2>&1 || fail "default export is not a clean ext4"
expect_eq "$(stat -c %s $T/exports/one)" $((16 << 20)) "size of export one"
list=$($NBDINFO --list --json "$(uri '')" | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(e["export-name"] for e in json.load(sys.stdin)["exports"])))')
expect_eq "$list" "default one" "nbdinfo --list"

# While one client holds an export, another is refused.
out=$(/usr/bin/python3 - "$(uri busy)" <<'PY' 2>&1
import nbd, sys
h1 = nbd.NBD(); h1.connect_uri(sys.argv[1])
h2 = nbd.NBD()
try:
    h2.connect_uri(sys.argv[1]); print("second client connected")
except nbd.Error as e:
    print("refused")
h1.shutdown()
h3 = nbd.NBD(); h3.connect_uri(sys.argv[1]); print("after release:", h3.get_size()); h3.shutdown()
PY
)
expect_eq "$out" "refused
after release: 16777216" "lock on a busy export"

# Negative: export names that are not plain file names.
$NBDINFO --size "$(uri 'a.b')" >/dev/null 2>&1 && fail "export name with '.' was accepted"
[ ! -e "$T/a.b" ] && [ -z "$(ls -A $T/exports | grep -v -e '^one$' -e '^default$' -e '^busy$')" ] \
  || fail "unexpected files in the exports dir: $(ls -A $T/exports)"
pass
