#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# timeout: 600
# The Go client package (bindings/go/libnbd, import path libguestfs.org/libnbd) builds offline
# (GOFLAGS=-mod=mod GOPROXY=off, a replace line) against our libnbd.h and libnbd.so.0, and its
# example reads and writes our server: the bytes, block status, aio reads with completion
# callbacks, and an error with its errno; a server that is not there is a clear error.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer go
OURLIB=$(cd "$NBD_BIN/../lib" && pwd)
export CGO_CFLAGS="-I$NBD_SRC/bindings/c" CGO_LDFLAGS="-L$OURLIB -Wl,-rpath,$OURLIB"
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
(cd "$NBD_SRC/bindings/go/examples" && go vet ./... && go build -o "$T/info" ./info) || fail "go build"
ldd "$T/info" | grep -q "libnbd.so.0 => $OURLIB/libnbd.so.0" || fail "the example does not link our libnbd.so.0"

out=$("$NBDKIT" -U - memory 1M --run "$T/info \"\$uri\"") || fail "the Go example failed: $out"
expect_eq "$out" 'library nbdkit++, size 1048576
read back: "hello from Go"
base:allocation at 0: [32768 0 1015808 3]
aio: 8 completed, data same: true
read past the end: invalid argument' "the Go example's output"

# Negative: nothing listening.
err=$("$T/info" "nbd+unix:///?socket=$T/nothing" 2>&1); rc=$?
expect_eq "$rc" "1" "exit status with no server"
expect_contains "$err" "connect_uri: " "the error names the call"
expect_contains "$err" "(no such file or directory)" "the error carries its errno"
pass
