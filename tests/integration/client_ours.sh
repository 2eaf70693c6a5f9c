#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Our nbdinfo against our nbdkit: the upstream blog's command, captive [ CMD ] mode, --run
# with $uri, the facts of a few plugins, and errors for a missing export and a dead server.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdkit nbdinfo
export PATH="$NBD_BIN:$PATH"

# The blog command (with -U -: nbdkit 1.32's --run otherwise takes TCP port 10809, and tests
# use no fixed ports).
out=$("$NBDKIT" -U - data ' @32768 1 ' --run 'nbdinfo --map "$uri"') || fail "blog command failed"
expect_eq "$out" "         0       32768    3  hole,zero
     32768           1    0  data" "blog --map output"
out=$("$NBDKIT" -U - data ' @32768 1 ' --run 'nbdinfo --map --totals "$uri"') || fail "--totals failed"
expect_eq "$out" "         1   0.0%   0 data
     32768 100.0%   3 hole,zero" "--totals output"

# Captive server by socket activation, several modes.
expect_eq "$(nbdinfo --size -- [ "$NBDKIT" null 1M ])" "1048576" "captive --size"
"$NBDINFO" --is read-only -- [ "$NBDKIT" -r memory 1M ] || fail "captive -r is not read-only"
"$NBDINFO" --can trim -- [ "$NBDKIT" memory 1M ] || fail "memory cannot trim"
"$NBDINFO" --cannot write -- [ "$NBDKIT" -r memory 1M ] || fail "--cannot write on -r"

# Default output: every fact has the value the plugin implies.
sock=$T/mem.sock
start_server "$sock" memory 2M
out=$("$NBDINFO" "nbd+unix:///?socket=$sock") || fail "nbdinfo on our server failed"
expect_contains "$out" "protocol: newstyle-fixed without TLS, using " "protocol line"
expect_contains "$out" "	export-size: 2097152 (2M)" "size line"
expect_contains "$out" "	content: data" "content line"
expect_contains "$out" "	uri: nbd+unix:///?socket=$sock" "uri line"
expect_contains "$out" "	is_read_only: false" "read-only line"
expect_contains "$out" "	can_trim: true" "trim line"
expect_eq "$("$NBDINFO" --uri "nbd+unix:///?socket=$sock")" "nbd+unix:///?socket=$sock" "--uri"
json=$("$NBDINFO" --json "nbd+unix:///?socket=$sock") || fail "--json failed"
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); e=d["exports"][0]; assert e["export-size"]==2097152, e; assert e["export-size-str"]=="2M"; assert d["TLS"] is False' <<<"$json" ||
  fail "--json is not valid JSON with the right facts: $json"

# LIBNBD_DEBUG=1 traces the library on stderr; stdout is unchanged.
out=$(LIBNBD_DEBUG=1 "$NBDINFO" --size "nbd+unix:///?socket=$sock" 2>"$T/debug") || fail "--size with debug"
expect_eq "$out" "2097152" "--size with LIBNBD_DEBUG=1"
expect_contains "$(cat "$T/debug")" "libnbd: debug: nbd1: nbd_connect_uri: sending option NBD_OPT_GO" "debug trace"
[ -s "$T/debug" ] && LIBNBD_DEBUG=0 "$NBDINFO" --size "nbd+unix:///?socket=$sock" 2>&1 >/dev/null | grep -q . &&
  fail "LIBNBD_DEBUG=0 still traces"

# --help on stdout (exit 0); no target: usage on stderr (exit 1); -V names the version.
"$NBDINFO" --help | grep -q -- "--map" || fail "--help does not describe --map"
"$NBDINFO" >/dev/null 2>"$T/usage"; expect_eq "$?" "1" "nbdinfo without a target"
grep -q "nbdinfo --size" "$T/usage" || fail "usage is not on stderr"
expect_contains "$("$NBDINFO" -V)" "nbdinfo " "-V"

# Negative cases: a socket nobody listens on; a URI for a different scheme.
expect_fail_line 1 "connect" "$NBDINFO" --size "nbd+unix:///?socket=$T/nobody.sock"
expect_fail_line 1 "unknown scheme" "$NBDINFO" --size "http://localhost/"
# A captive command that cannot be run says so (it used to look like "Connection refused").
expect_fail_line 1 "cannot run 'no-such-nbd-server': No such file or directory" \
  "$NBDINFO" --size -- [ no-such-nbd-server 1M ]
expect_fail_line 1 "cannot run 'no-such-nbd-server'" "$NBDCOPY" -- [ no-such-nbd-server ] null:
pass
