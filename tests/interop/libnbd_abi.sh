#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Our libnbd.so.0 (bindings/c) as libnbd: its symbol versions cover Debian's libnbd 1.14; one
# program (bindings/c/examples/check.c) built against our libnbd.h and against Debian's
# libnbd-dev prints the same on our library as on Debian's; and Debian's own binaries run on
# ours with LD_LIBRARY_PATH alone: nbdinfo, nbdcopy, nbdsh (python3-libnbd), fio's nbd engine,
# and nbdkit's nbd plugin .so (which hung at exit until aio_disconnect sent at once, as libnbd's).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo nbdcopy fio gcc objdump
OURLIB=$(cd "$NBD_BIN/../lib" && pwd)
CHECK=$NBD_BIN/../bindings/c/libnbd-check
DEBLIB=/usr/lib/x86_64-linux-gnu
[[ -e $OURLIB/libnbd.so.0 && -x $CHECK ]] || fail "libnbd.so.0 or libnbd-check not built"
[[ -e /usr/include/libnbd.h ]] || fail "libnbd-dev is not installed (scripts/install-deps.sh)"
on_ours() { LD_LIBRARY_PATH=$OURLIB "$@"; }

# The loader really picks ours (else everything below would test Debian's against itself).
# (not ldd | grep -q: under pipefail, grep's early exit can fail ldd with SIGPIPE)
expect_contains "$(on_ours ldd /usr/bin/nbdinfo)" "libnbd.so.0 => $OURLIB/libnbd.so.0" "nbdinfo resolves to ours"

# Every versioned symbol of Debian's libnbd, in the same version node in ours.
syms() { objdump -T "$1" | awk '$NF ~ /^nbd_/ {print $(NF-1), $NF}' | sort; }
syms "$DEBLIB/libnbd.so.0" > "$T/deb.syms"
syms "$OURLIB/libnbd.so.0" > "$T/ours.syms"
missing=$(comm -23 "$T/deb.syms" "$T/ours.syms")
[[ -z $missing ]] || fail "symbols of Debian's libnbd missing from ours: $missing"
expect_eq "$(wc -l < "$T/deb.syms")" "126" "Debian's libnbd 1.14 symbol count"
# Nothing but the API is exported (the C++ client stays inside).
extra=$(objdump -T "$OURLIB/libnbd.so.0" | awk '$2 == "g" && $4 != "*UND*" && $NF !~ /^(nbd_|LIBNBD_)/' | head -3)
[[ -z $extra ]] || fail "libnbd.so.0 exports more than the API: $extra"

# One program, three ways.
gcc -std=c11 -Wall -Werror -o "$T/check-deb" "$NBD_SRC/bindings/c/examples/check.c" -lnbd || fail "build against Debian's libnbd.h"
run_check() {  # run_check OUT CMD...: the program against a fresh memory export
  "$NBDKIT" -U - memory 1M --run "$(printf '%q ' "${@:2}") \"\$uri\"" > "$1" 2>&1 || fail "$(basename "$2") failed: $(cat "$1")"
}
run_check "$T/a" env LD_LIBRARY_PATH="$DEBLIB" "$T/check-deb"
run_check "$T/b" env LD_LIBRARY_PATH="$OURLIB" "$T/check-deb"
run_check "$T/c" "$CHECK"
diff -u "$T/a" "$T/b" || fail "Debian-built program: Debian's libnbd and ours differ"
diff -u "$T/b" "$T/c" || fail "built against our header: differs"
for line in "pwrite/pread 65536 bytes: same" "aio_pread x8: completed 8, freed 8, error 0, data same" \
  "aio_pread past the end: errno EINVAL, freed 1" "aio_opt_go: ready 1, completed 1, error 0" \
  "connect to a missing socket: errno ENOENT" "nbd_close freed the debug callback: 1" "done"; do
  grep -qxF "$line" "$T/c" || fail "libnbd-check did not print: $line"
done

# Debian's tools on ours.
start_server "$T/pat.sock" pattern 64M
PAT="nbd+unix:///?socket=$T/pat.sock"
ref=$("$REF_NBDKIT" -U - pattern 64M --run "$REF_NBDCOPY \"\$uri\" - | md5sum")
expect_eq "$(on_ours /usr/bin/nbdcopy "$PAT" - | md5sum)" "$ref" "Debian's nbdcopy on our libnbd"
expect_eq "$(on_ours /usr/bin/nbdinfo --size "$PAT")" "67108864" "Debian's nbdinfo --size on our libnbd"
on_ours /usr/bin/nbdinfo --json "$PAT" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["exports"][0]["export-size"] == 67108864' \
  || fail "Debian's nbdinfo --json on our libnbd"
expect_fail_line 1 "No such file or directory" env LD_LIBRARY_PATH="$OURLIB" /usr/bin/nbdinfo "nbd+unix:///?socket=$T/nothing"

# python3-libnbd's module (its libnbdmod links libnbd.so.0).
cat > "$T/t.py" <<'PY'
import nbd, os
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(os.environ["uri"])
assert h.get_package_name() == "nbdkit++", h.get_package_name()  # ours, not Debian's
h.pwrite(b"hello", 4096)
assert h.pread(5, 4096) == b"hello"
buf = nbd.Buffer(5)
done = []
c = h.aio_pread(buf, 4096, lambda err: done.append(err.value) or 1)
while not done:
    h.poll(-1)
assert done == [0] and buf.to_bytearray() == b"hello", (done, buf.to_bytearray())
ext = []
h.block_status(1 << 20, 0, lambda ctx, off, e, err: ext.extend(e))
assert ext and sum(ext[0::2]) == 1 << 20, ext
try:
    h.pread(10, 1 << 20)
    raise SystemExit("a read past the end worked")
except nbd.Error as e:
    assert e.errno == "EINVAL", e.errno
print("python ok")
PY
expect_eq "$("$NBDKIT" -U - memory 1M --run "LD_LIBRARY_PATH=$OURLIB /usr/bin/python3 $T/t.py" 2>&1)" "python ok" \
  "python3-libnbd on our libnbd"

# fio's nbd engine (links libnbd.so.0), verifying what it wrote.
"$NBDKIT" -U - memory 64M --run "LD_LIBRARY_PATH=$OURLIB fio --name=t --ioengine=nbd --uri=\"\$uri\" --rw=randrw \
  --bs=4k --size=16M --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --output-format=json" > "$T/fio.json" \
  || fail "fio on our libnbd: $(tail -5 "$T/fio.json")"
/usr/bin/python3 -c 'import json,sys; t=open(sys.argv[1]).read(); j=json.loads(t[t.index("{"):])["jobs"][0]; assert j["error"] == 0 and j["read"]["io_bytes"] > 0 and j["write"]["io_bytes"] > 0, j["error"]' "$T/fio.json" \
  || fail "fio's job on our libnbd"

# Debian's nbdkit nbd plugin .so on our libnbd, in front of our server: the bytes, and it
# exits when its --run command does (it waits for the backend to hang up after NBD_CMD_DISC).
out=$(timeout 60 env LD_LIBRARY_PATH="$OURLIB" "$REF_NBDKIT" -U - nbd socket="$T/pat.sock" \
  --run "$REF_NBDCOPY \"\$uri\" - | md5sum; $REF_NBDINFO --size \"\$uri\"")
rc=$?
(( rc != 124 )) || fail "Debian's nbd plugin on our libnbd did not exit"
expect_eq "$out" "$ref
67108864" "Debian's nbd plugin on our libnbd"
pass
