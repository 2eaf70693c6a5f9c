#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# nbdfuse mounted, read, written, fsynced, seeked, punched and unmounted: over a captive nbdkit
# (socket activation and --command), a URI with multi-conn, --unix, a naked mount over a file,
# read-only, and qemu-nbd serving a qcow2 whose writes must land in the image. Bad uses fail
# with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo nbdfuse
require_peer fusermount3 qemu-nbd qemu-img
NBDFUSE=$NBD_BIN/nbdfuse
mounts=()
unmount_all() { local m; for m in "${mounts[@]}"; do fusermount3 -u -z "$m" 2>/dev/null; done; }
trap 'unmount_all; cleanup' EXIT

# mount PIDFILE ARGS...: starts nbdfuse in the background and waits until it is ready.
mount_fuse() {
  local pid=$1; shift
  rm -f "$pid"
  "$NBDFUSE" -P "$pid" "$@" 2>>"$T/fuse.log" &
  local i
  for i in $(seq 200); do [ -s "$pid" ] && return 0; sleep 0.05; done
  fail "nbdfuse $* did not start: $(cat "$T/fuse.log")"
}
umount_fuse() {  # MOUNTPOINT PIDFILE: a clean unmount makes nbdfuse exit 0
  local p
  p=$(cat "$2")
  fusermount3 -u "$1" || fail "fusermount3 -u $1"
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
  fail "nbdfuse did not exit after the unmount"
}

head -c 1M /dev/urandom >"$T/r1"
# 1. A captive nbdkit over socket activation: write, read back, fsync, seek, punch, unmount.
mkdir "$T/mp"; mounts+=("$T/mp")
mount_fuse "$T/1.pid" "$T/mp/ramdisk" [ "$NBDKIT" --exit-with-parent memory 16M ]
expect_eq "$(ls "$T/mp")" "ramdisk" "the directory holds the file"
expect_eq "$(stat -c '%s %A' "$T/mp/ramdisk")" "16777216 -rw-r--r--" "size and mode"
dd if="$T/r1" of="$T/mp/ramdisk" bs=64K seek=16 conv=notrunc,nocreat status=none || fail "dd into the file"
cmp <(dd if="$T/mp/ramdisk" bs=64K skip=16 count=16 status=none) "$T/r1" || fail "bytes read back differ"
out=$(/usr/bin/python3 - "$T/mp/ramdisk" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.fsync(fd)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 1 << 20, os.SEEK_HOLE))
try:
    os.lseek(fd, 16 << 20, os.SEEK_DATA)
except OSError as e:
    print(e.errno == 6)
PY
)
expect_eq "$out" "1048576 0 2097152
True" "SEEK_DATA/SEEK_HOLE from block status"
fallocate -p -o 1M -l 64K "$T/mp/ramdisk" || fail "fallocate --punch-hole"
expect_eq "$(dd if="$T/mp/ramdisk" bs=64K skip=16 count=1 status=none | tr -d '\0' | wc -c)" 0 "punched range reads zero"
expect_eq "$(dd if="$T/mp/ramdisk" bs=64K skip=17 count=1 status=none | md5sum)" \
  "$(dd if="$T/r1" bs=64K skip=1 count=1 status=none | md5sum)" "the rest is untouched"
dd if=/dev/zero of="$T/mp/ramdisk" bs=1 seek=16777216 count=1 conv=notrunc,nocreat status=none 2>/dev/null &&
  fail "a write past the end succeeded"
umount_fuse "$T/mp" "$T/1.pid"
[ -e "$T/mp/ramdisk" ] && fail "the file is still there after unmount"

# 2. A URI to a server with multi-conn: writes through FUSE reach the server.
start_server "$T/s.sock" -v memory 8M 2>"$T/s.log"
mount_fuse "$T/2.pid" -C 3 "$T/mp" "nbd+unix:///?socket=$T/s.sock"
dd if="$T/r1" of="$T/mp/nbd" bs=1M conv=notrunc,nocreat status=none || fail "dd through the URI mount"
umount_fuse "$T/mp" "$T/2.pid"
expect_eq "$(grep -o 'memory\[[0-9]*\]' "$T/s.log" | sort -u | wc -l)" 3 "-C 3 opened three connections"
$NBDCOPY "nbd+unix:///?socket=$T/s.sock" "$T/back" || fail "reading the server"
cmp <(head -c 1M "$T/back") "$T/r1" || fail "writes did not reach the server"

# 3. --unix read-only, and a naked mount over a regular file.
touch "$T/naked.img"; mounts+=("$T/naked.img")
mount_fuse "$T/3.pid" -r "$T/naked.img" --unix "$T/s.sock"
expect_eq "$(stat -c '%s %A' "$T/naked.img")" "8388608 -r--r--r--" "naked read-only file"
cmp <(head -c 1M "$T/naked.img") "$T/r1" || fail "naked mount reads"
echo x | dd of="$T/naked.img" conv=notrunc,nocreat status=none 2>/dev/null && fail "a write to a read-only mount succeeded"
umount_fuse "$T/naked.img" "$T/3.pid"

# --tcp, to a server on loopback.
port=$(free_port)
bg "$NBDKIT" -f -i 127.0.0.1 -p "$port" -P "$T/tcp.pid" pattern 1M
wait_for_file "$T/tcp.pid"
mount_fuse "$T/t.pid" "$T/mp/t.img" --tcp 127.0.0.1 "$port"
expect_eq "$(od -An -tx1 -j16 -N8 "$T/mp/t.img" | tr -d ' ')" "0000000000000010" "pattern plugin through --tcp"
umount_fuse "$T/mp" "$T/t.pid"

# 4. --command (nbdkit -s on stdin/stdout).
mount_fuse "$T/4.pid" "$T/mp/p.img" --command "$NBDKIT" -s --exit-with-parent pattern 1M
expect_eq "$(od -An -tx1 -j8 -N8 "$T/mp/p.img" | tr -d ' ')" "0000000000000008" "pattern plugin through --command"
umount_fuse "$T/mp" "$T/4.pid"

# 5. qemu-nbd serving a qcow2 (socket activation): writes land in the image.
qemu-img create -q -f qcow2 "$T/d.qcow2" 4M
mount_fuse "$T/5.pid" "$T/mp/file.raw" --socket-activation qemu-nbd -f qcow2 "$T/d.qcow2"
dd if="$T/r1" of="$T/mp/file.raw" bs=1M seek=2 conv=notrunc,nocreat status=none || fail "dd into qcow2"
/usr/bin/python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)" "$T/mp/file.raw"
umount_fuse "$T/mp" "$T/5.pid"
qemu-img convert -f qcow2 -O raw "$T/d.qcow2" "$T/d.raw" || fail "qemu-img convert"
cmp <(tail -c +2097153 "$T/d.raw" | head -c 1M) "$T/r1" || fail "writes did not reach the qcow2"
expect_eq "$(head -c 2M "$T/d.raw" | tr -d '\0' | wc -c)" 0 "the rest of the qcow2 is zero"

# Bad uses: one line, exit 1, nothing mounted.
expect_fail_line 1 "unrecognized option '--bogus'" "$NBDFUSE" --bogus "$T/mp" nbd://x
expect_fail_line 1 "is not a directory" "$NBDFUSE" "$T/nodir/file" "nbd+unix:///?socket=$T/s.sock"
expect_fail_line 1 "expected an NBD URI" "$NBDFUSE" "$T/mp"
expect_fail_line 1 "-C/--connections" "$NBDFUSE" -C 0 "$T/mp" "nbd+unix:///?socket=$T/s.sock"
expect_fail_line 1 "nbdfuse:" "$NBDFUSE" "$T/mp" "nbd+unix:///?socket=$T/none.sock"
expect_fail_line 1 "closing ']'" "$NBDFUSE" "$T/mp" [ nbdkit memory 1M
expect_eq "$(ls "$T/mp")" "" "nothing left mounted"
expect_contains "$("$NBDFUSE" --help)" "--socket-activation CMD" "--help"
expect_eq "$(cat "$T/fuse.log")" "" "the mounts printed nothing on stderr"
pass
