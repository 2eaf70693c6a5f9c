#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_loadgen (bench/loadgen.cc), the load generator of bench/run's server rows: the commands
# of bench/README.md. It verifies what it writes, fails on errors and on wrong data, and refuses
# bad arguments with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
LG="$NBD_BUILD/bench/bench_loadgen"
[ -x "$LG" ] || fail "no $LG"
"$NBDKIT" -U - memory 64M --run "'$LG' --runtime=1 --json \"\$uri\"" >"$T/out.json" || fail "loadgen against memory failed"
/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ops"] > 1000 and j["errors"] == 0 and j["iops"] > 0, j
' "$T/out.json" || fail "bad JSON: $(cat "$T/out.json")"
"$NBDKIT" -U - memory 64M --run "'$LG' --verify --connections=2 --runtime=2 \"\$uri\"" >"$T/v.out" ||
  fail "verify against memory failed: $(cat "$T/v.out")"
# Negative: null reads back zeroes, so every verified block mismatches; an error filter fails I/O.
"$NBDKIT" -U - null 64M --run "'$LG' --verify --runtime=1 \"\$uri\"" >/dev/null 2>&1 && fail "verify against null passed"
"$NBDKIT" -U - --filter=error memory 64M error-rate=1 --run "'$LG' --runtime=1 \"\$uri\"" >/dev/null 2>&1 &&
  fail "loadgen passed with every request failing"
expect_fail_line 1 "--qd=x" "$LG" --qd=x nbd+unix:///?socket=/nonexistent
echo ok
