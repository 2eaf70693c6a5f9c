#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A filter written for upstream's C filter API (tests/cabi/c_filter.c), built against our
# headers and against Debian's, loaded by our nbdkit over our file plugin: bytes are XORed with
# key= on the way down (checked in the file itself), plain through the filter, the size is 512
# smaller; a bad key is one error line; an injected failure reaches the client as its errno.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy nbddump
PY=/usr/bin/python3
$PY -c 'import nbd' 2>/dev/null || fail "python3-libnbd is not installed (scripts/install-deps.sh)"
D=$NBD_BUILD/tests/cabi
variants=(ours)
[ -f /usr/include/nbdkit-filter.h ] && variants+=(debian)

head -c 65536 /dev/urandom >"$T/pattern"
for v in "${variants[@]}"; do
  so=$D/cabi_filter_$v.so
  [ -f "$so" ] || fail "$so was not built"
  truncate -s 1M "$T/$v.img"
  out=$("$NBDKIT" -U - --filter="$so" file "$T/$v.img" key=0xff \
    --run "$NBDCOPY '$T/pattern' \"\$uri\" && $NBDINFO --size \"\$uri\" && $NBDCOPY \"\$uri\" $T/$v.out && head -c 65536 $T/$v.out | md5sum")
  expect_eq "$out" "1048064
$(md5sum <"$T/pattern")" "$v: size 512 smaller, data plain through the filter"
  # In the file every byte is the complement (XOR 0xff) of what the client wrote.
  expect_eq "$($PY -c 'import sys; sys.stdout.buffer.write(bytes(b ^ 0xff for b in open(sys.argv[1], "rb").read(65536)))' "$T/$v.img" | md5sum)" "$(md5sum <"$T/pattern")" \
    "$v: data XORed below the filter"
  # Unwritten zeroes below read as the key above; prepare read byte 0 through next.
  out=$("$NBDKIT" -U - -v --filter="$so" memory 1M key=0x5a --run "$NBDDUMP --length=16 \"\$uri\" | head -1" 2>"$T/$v.log")
  expect_contains "$out" "5a 5a 5a 5a" "$v: zeroes below read as the key"
  expect_contains "$(cat "$T/$v.log")" "byte 0 below is 0x00" "$v: prepare read through next"
  # A rewritten key: disk-size= reaches the plugin as size=.
  expect_eq "$("$NBDKIT" -U - --filter="$so" memory disk-size=2M key=1 --run "$NBDINFO --size \"\$uri\"")" 2096640 \
    "$v: config rewrite"

  # Errors: the filter's *err reaches the client, and the server keeps serving.
  sock=$T/$v.sock
  start_server "$sock" --filter="$so" memory 1M key=7 fail-at=65536
  out=$(URI="nbd+unix:///?socket=$sock" $PY -c '
import nbd, os
h = nbd.NBD(); h.connect_uri(os.environ["URI"])
for f in (lambda: h.pwrite(b"x" * 512, 65536), lambda: h.pread(512, 65536)):
    try:
        f(); print("none", end=" ")
    except nbd.Error as e:
        print(e.errno, end=" ")
h.pwrite(b"y" * 512, 0)
print(h.pread(1, 0).decode())' 2>&1)
  expect_eq "$out" "ENOSPC ENOMEM y" "$v: errors reach the client"

  expect_fail_line 1 "key=300: must be 0 to 255" "$NBDKIT" -U - --filter="$so" memory 1M key=300 --run true
  expect_fail_line 1 "key=N is required" "$NBDKIT" -U - --filter="$so" memory 1M --run true
  expect_fail_line 1 "unknown parameter 'colour'" "$NBDKIT" -U - --filter="$so" memory 1M key=1 colour=blue --run true
done
pass
