#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Debian's own plugin .so files (nbdkit 1.32, built for upstream's C API) loaded by path into
# our nbdkit: each serves the same bytes as under Debian's nbdkit, or known content where the
# bytes are not reproducible. The table in docs/compatibility.md lists them. Test peers only.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
require_peer nbdkit
P=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[ -f "$P/nbdkit-memory-plugin.so" ] || skip "Debian's nbdkit plugins are not installed ($P)"
PY=/usr/bin/python3

# same NAME ARGS...: the whole export under our nbdkit and under Debian's, byte for byte.
same() {
  local n=$1; shift
  local so=$P/nbdkit-$n-plugin.so
  [ -f "$so" ] || fail "$so is missing (nbdkit-plugin-* packages, scripts/install-deps.sh)"
  "$NBDKIT" -U - "$so" "$@" --run "$NBDCOPY \"\$uri\" '$T/$n.ours'" 2>"$T/$n.err" ||
    fail "$n: our nbdkit could not serve it: $(head -3 "$T/$n.err")"
  "$REF_NBDKIT" -U - "$so" "$@" --run "$NBDCOPY \"\$uri\" '$T/$n.ref'" 2>/dev/null || fail "$n: Debian's nbdkit failed"
  cmp -s "$T/$n.ours" "$T/$n.ref" || fail "$n: bytes differ from Debian's nbdkit ($*)"
  echo "ok: $n $*"
}

head -c 300000 /dev/urandom >"$T/disk.img"
mkdir -p "$T/tree/sub" "$T/od"
echo "hello from a file" >"$T/tree/a.txt"
echo "another" >"$T/tree/sub/b.txt"
cat >"$T/script.sh" <<'SH'
#!/bin/bash
case "$1" in
  get_size) echo 65536 ;;
  pread) head -c "$3" /dev/zero | tr '\0' 'S' ;;
  *) exit 2 ;;
esac
SH
chmod +x "$T/script.sh"

same null 1M
same zero
same full 1M
same pattern 1M
same random 1M seed=7
same sparse-random 16M seed=7
same data "1 2 3 @0x1000 4 5 6" size=64K
same data base64=aGVsbG8gd29ybGQK
same file "$T/disk.img"
same partitioning "$T/disk.img" "$T/disk.img"
same floppy "$T/tree"
same eval get_size='echo 4096' pread='head -c $3 /dev/zero | tr "\0" E'
same sh "$T/script.sh"
same curl "file://$T/disk.img" protocols=file
same example1
same example2 file="$T/disk.img"
same example3 size=1M
same ondemand dir="$T/od" size=1M
same cc script="$NBD_SRC/tests/cabi/c_plugin.c" size=256K

# memory: written through our nbdkit, read back; extents from the plugin's sparse array.
out=$("$NBDKIT" -U - "$P/nbdkit-memory-plugin.so" 4M --run "$NBDCOPY '$T/disk.img' \"\$uri\" && $NBDCOPY \"\$uri\" '$T/mem.out' && $NBDINFO --map \"\$uri\"")
expect_eq "$(head -c 300000 "$T/mem.out" | md5sum)" "$(md5sum <"$T/disk.img")" "memory: written bytes read back"
expect_eq "$(printf '%s\n' "$out" | tail -1 | tr -s ' ')" " 327680 3866624 3 hole,zero" "memory: extents"
# nbd: a proxy to our own memory server.
start_server "$T/mem.sock" memory 1M
printf 'proxied' | "$NBDCOPY" - "nbd+unix:///?socket=$T/mem.sock"
out=$("$NBDKIT" -U - "$P/nbdkit-nbd-plugin.so" socket="$T/mem.sock" --run "$NBDCOPY \"\$uri\" - 2>/dev/null | head -c 7")
expect_eq "$out" "proxied" "nbd: proxied content"
# info: reads the export name through nbdkit_export_name.
out=$("$NBDKIT" -U - "$P/nbdkit-info-plugin.so" mode=exportname --run "$NBDCOPY \"nbd+unix:///hello?socket=\$unixsocket\" - | head -c 5")
expect_eq "$out" "hello" "info: export name"
out=$("$NBDKIT" -U - "$P/nbdkit-info-plugin.so" mode=address --run "$NBDCOPY \"\$uri\" - | head -c 4")
expect_eq "$out" "unix" "info: the client's address (nbdkit_peer_name)"
# tmpdisk and linuxdisk make a fresh file system each time (UUIDs, times): check its shape
# instead of the bytes. tmpdisk: ext4 superblock magic 0xEF53 at byte 1080. linuxdisk: a GPT
# disk ("EFI PART" at byte 512) holding the tree's files.
"$NBDKIT" -U - "$P/nbdkit-tmpdisk-plugin.so" 8M --run "$NBDCOPY \"\$uri\" '$T/tmpdisk.img'" 2>/dev/null || fail "tmpdisk: our nbdkit failed"
expect_eq "$(od -An -tx1 -j1080 -N2 "$T/tmpdisk.img" | tr -d ' ')" "53ef" "tmpdisk: ext4 file system"
"$NBDKIT" -U - "$P/nbdkit-linuxdisk-plugin.so" "$T/tree" size=+4M --run "$NBDCOPY \"\$uri\" '$T/linuxdisk.img'" 2>/dev/null || fail "linuxdisk: our nbdkit failed"
expect_eq "$(dd if="$T/linuxdisk.img" bs=1 skip=512 count=8 status=none)" "EFI PART" "linuxdisk: GPT"
grep -q "hello from a file" "$T/linuxdisk.img" || fail "linuxdisk: a.txt is not in the image"
# iso: mkisofs stamps the time, so check the ISO 9660 signature and a file's bytes.
"$NBDKIT" -U - "$P/nbdkit-iso-plugin.so" "$T/tree" --run "$NBDCOPY \"\$uri\" '$T/iso.img'" 2>/dev/null || fail "iso: our nbdkit failed"
expect_eq "$(dd if="$T/iso.img" bs=1 skip=32769 count=5 status=none)" "CD001" "iso: ISO 9660 signature"
grep -q "hello from a file" "$T/iso.img" || fail "iso: a.txt is not in the image"
# split: reads, but its extents callback crashes (under Debian's nbdkit as well), so read
# without block status.
out=$("$NBDKIT" -U - "$P/nbdkit-split-plugin.so" "$T/disk.img" "$T/disk.img" --run "$PY -c '
import nbd, os, hashlib
h = nbd.NBD(); h.connect_uri(os.environ[\"uri\"])
print(hashlib.md5(h.pread(300000, 300000)).hexdigest())'")
expect_eq "$out" "$(md5sum <"$T/disk.img" | cut -d' ' -f1)" "split: second file's bytes"

# Negative cases: a plugin's error reaches the client with its errno; configuration errors
# are one line naming the value.
out=$("$NBDKIT" -U - "$P/nbdkit-full-plugin.so" 1M --run "$PY -c '
import nbd, os
h = nbd.NBD(); h.connect_uri(os.environ[\"uri\"])
try:
    h.pwrite(b\"x\", 0); print(\"written\")
except nbd.Error as e:
    print(e.errno)'" 2>/dev/null)
expect_eq "$out" "ENOSPC" "full: writes fail with ENOSPC"
expect_fail_line 1 "1Q" "$NBDKIT" -U - "$P/nbdkit-memory-plugin.so" size=1Q --run true
expect_fail_line 1 "mode" "$NBDKIT" -U - "$P/nbdkit-info-plugin.so" mode=nonsense --run true
out=$("$NBDKIT" "$P/nbdkit-memory-plugin.so" --dump-plugin)
expect_contains "$out" "name=memory" "memory --dump-plugin"
expect_contains "$out" "c_api_version=2" "memory --dump-plugin API version"
pass
