#!/usr/bin/env bash
# time-limit filter through our server: a client reads the right bytes within the limit; after
# it its request fails and the connection is closed; a new client gets in again. Without the
# filter the same late request succeeds (the negative case).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer python3

script='
import nbd, struct, sys, time
h = nbd.NBD(); h.connect_unix(sys.argv[1])
assert h.pread(8, 8) == struct.pack(">Q", 8)
time.sleep(1.5)
try:
    h.pread(8, 16)
    print("late-ok")
except nbd.Error as e:
    print("late-failed")
try:
    h.pread(8, 16)
    print("after-ok")
except nbd.Error:
    print("after-failed")
'
start_server "$T/sock" --filter=time-limit pattern 1M time-limit=1
out=$(/usr/bin/python3 -c "$script" "$T/sock" 2>&1) || fail "client under time-limit: $out"
expect_eq "$out" $'late-failed\nafter-failed' "requests after the limit"
out=$("$NBD_BIN/nbdinfo" --size "nbd+unix:///?socket=$T/sock") || fail "new client after the limit"
expect_eq "$out" 1048576 "a new client has its own clock"

start_server "$T/sock2" pattern 1M
out=$(/usr/bin/python3 -c "$script" "$T/sock2" 2>&1) || fail "client without time-limit: $out"
expect_eq "$out" $'late-ok\nafter-ok' "without the filter"

expect_fail_line 1 "time-limit=x" "$NBDKIT" -U - --filter=time-limit null 1M time-limit=x --run true
pass
