#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Start-up cost: N sequential `nbdinfo --size` runs of ours and of Debian's against the same
# Debian nbdkit, interleaved in rounds so machine load hits both alike. Prints the ratio
# ours/Debian's (the goal is <= 0.7). Usage: bench_startup.sh [N] (default 300).
# A measurement, not a test: it asserts nothing.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdinfo
require_peer nbdkit nbdinfo
n=${1:-300}
rm -f "$T/s.sock"
bg "$REF_NBDKIT" -f -U "$T/s.sock" -P "$T/s.pid" memory 1M
wait_for_file "$T/s.pid"
uri="nbd+unix:///?socket=$T/s.sock"
run() { local b=$1 i; for ((i = 0; i < n / 10; i++)); do "$b" --size "$uri" >/dev/null || exit 1; done; }
ours=0 theirs=0
for round in 1 2 3 4 5 6 7 8 9 10; do
  t0=$(date +%s%N); run "$NBDINFO"; t1=$(date +%s%N); run "$REF_NBDINFO"; t2=$(date +%s%N)
  ours=$((ours + t1 - t0)); theirs=$((theirs + t2 - t1))
done
printf 'nbdinfo --size x%d: ours %.3f s, Debian %.3f s, ratio %.2f\n' "$n" \
  "$(bc -l <<<"$ours/1000000000")" "$(bc -l <<<"$theirs/1000000000")" "$(bc -l <<<"$ours/$theirs")"
