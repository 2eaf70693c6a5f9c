#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# timeout: 600
# The Go packages build offline (GOFLAGS=-mod=mod GOPROXY=off, replace lines). The client
# package (libguestfs.org/libnbd, over our libnbd.h and libnbd.so.0): its example reads and
# writes our server (the bytes, block status, aio reads with completion callbacks, an error
# with its errno), and a server that is not there is a clear error. The plugin package
# (libguestfs.org/nbdkit): the blog's RAM disk plugin, built with -buildmode=c-shared, serves
# the bytes written to it from our nbdkit and from Debian's, and refuses bad parameters; our
# nbdkit refuses to daemonize with it (the Go runtime deadlocks after fork).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer go
OURLIB=$(cd "$NBD_BIN/../lib" && pwd)
export CGO_CFLAGS="-I$NBD_SRC/bindings/c -I$NBD_SRC/include" CGO_LDFLAGS="-L$OURLIB -Wl,-rpath,$OURLIB"
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
(cd "$NBD_SRC/bindings/go/examples" && go vet ./... && go build -o "$T/info" ./info &&
  go build -buildmode=c-shared -o "$T/nbdkit-disk-plugin.so" ./disk) || fail "go build"
expect_contains "$(ldd "$T/info")" "libnbd.so.0 => $OURLIB/libnbd.so.0" "the example links our libnbd.so.0"

out=$("$NBDKIT" -U - memory 1M --run "$T/info \"\$uri\"") || fail "the Go example failed: $out"
expect_eq "$out" 'library nbdkit++, size 1048576
read back: "hello from Go"
base:allocation at 0: [32768 0 1015808 3]
aio: 8 completed, data same: true
event loop: peeked true, retired true true, zeroed true, ready true
peek with nothing in flight: invalid argument
read past the end: invalid argument' "the Go example's output"

# Negative: nothing listening.
err=$("$T/info" "nbd+unix:///?socket=$T/nothing" 2>&1); rc=$?
expect_eq "$rc" "1" "exit status with no server"
expect_contains "$err" "connect_uri: " "the error names the call"
expect_contains "$err" "(no such file or directory)" "the error carries its errno"
# The Go plugin, under our nbdkit and Debian's.
head -c 300000 /dev/urandom > "$T/rand"
for k in "$NBDKIT" "$REF_NBDKIT"; do
  got=$("$k" -U - "$T/nbdkit-disk-plugin.so" size=1M --run "$NBDCOPY $T/rand \"\$uri\" && $NBDCOPY \"\$uri\" - | head -c 300000 | md5sum") ||
    fail "the Go plugin under $k"
  expect_eq "$got" "$(md5sum < "$T/rand")" "bytes through the Go plugin under $k"
done
# Our Go client against our Go plugin.
out=$("$NBDKIT" -U - "$T/nbdkit-disk-plugin.so" size=1M --run "$T/info \"\$uri\"" 2>&1) || fail "Go client on the Go plugin: $out"
expect_contains "$out" 'read back: "hello from Go"' "Go client on the Go plugin"
expect_contains "$out" "aio: 8 completed, data same: true" "Go client aio on the Go plugin"
expect_contains "$("$NBDKIT" -U - "$T/nbdkit-disk-plugin.so" size=1M --run "$NBDINFO \"\$uri\"")" "can_multi_conn: true" \
  "the plugin's CanMultiConn"
expect_fail_line 1 "size parameter is required" "$NBDKIT" -U - "$T/nbdkit-disk-plugin.so" --run true
expect_fail_line 1 "unknown parameter: foo" "$NBDKIT" -U - "$T/nbdkit-disk-plugin.so" size=1M foo=bar --run true
expect_fail_line 1 "could not parse size" "$NBDKIT" -U - "$T/nbdkit-disk-plugin.so" size=lots --run true
# The Go runtime does not survive fork: going into the background is refused, not a hang.
expect_fail_line 1 "is written in Go" timeout 20 "$NBDKIT" -U "$T/bg.sock" "$T/nbdkit-disk-plugin.so" size=1M
pass
