#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The rate filter, ours against Debian's nbdkit 1.32 side by side: the same client (Debian's
# nbdcopy) copies for about 10 s at rate=100M through each server, and each line prints the rate
# achieved as a fraction of the target (goal: 1.00 +- 0.05). Not run by make check.
#
#   bench/rate.sh [--build build] [--rate 100M] [--seconds 10]
#
# The buckets start full (burstiness=2 s), so the export holds SECONDS + 2 s of data and the
# burst is taken off before dividing: achieved = (bits copied - 2 s of rate) / elapsed. The
# ceiling line is each server with the filter and no limit, to show the rate is what holds the
# copy back.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
RATE=100M
SECONDS_WANTED=10
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --seconds) SECONDS_WANTED=$2; shift 2 ;;
    *) echo "bench/rate.sh: unknown argument '$1' (use --build DIR, --rate BITSPERSEC, --seconds N)" >&2; exit 1 ;;
  esac
done
OURS=$BUILD/bin/nbdkit
THEIRS=/usr/bin/nbdkit
COPY=/usr/bin/nbdcopy
for b in "$OURS" "$THEIRS" "$COPY"; do
  [ -x "$b" ] || { echo "bench/rate.sh: $b is missing" >&2; exit 1; }
done

# Bits per second as nbdkit parses sizes (powers of 1024).
bits=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)([kKmMgGtT]?)", sys.argv[1])
if not m: sys.exit("bench/rate.sh: --rate=%s: use a number with an optional K, M, G or T" % sys.argv[1])
print(int(m[1]) << (10 * " KMGT".index(m[2].upper() or " ")))' "$RATE")
burst=2
bytes=$(( bits / 8 * (SECONDS_WANTED + burst) ))
bytes=$(( bytes / 1048576 * 1048576 ))

# run NBDKIT FILTER-ARGS...: prints the seconds Debian's nbdcopy takes to copy the export to null:.
run() {
  local kit=$1; shift
  timeout $(( SECONDS_WANTED * 4 + 30 )) "$kit" -U - --filter=rate pattern "$bytes" "$@" \
    --run "s=\$(date +%s.%N); $COPY \"\$uri\" null: && e=\$(date +%s.%N) && echo \"\$e - \$s\" | bc"
}

printf 'rate=%s (%s bit/s), %d MiB per copy, Debian nbdcopy as the client\n' "$RATE" "$bits" $(( bytes / 1048576 ))
o=$(run "$OURS"); t=$(run "$THEIRS")
printf '%-28s ours %6.2f s  theirs %6.2f s\n' "ceiling (filter, no limit)" "$o" "$t"
o=$(run "$OURS" rate="$RATE"); t=$(run "$THEIRS" rate="$RATE")
fraction() { echo "scale=4; ($bytes * 8 - $burst * $bits) / $1 / $bits" | bc; }
fo=$(fraction "$o"); ft=$(fraction "$t")
printf '%-28s ours %6.2f s  %.3f of target   theirs %6.2f s  %.3f of target   ours/theirs %.3f\n' \
  "rate=$RATE" "$o" "$fo" "$t" "$ft" "$(echo "scale=4; $fo / $ft" | bc)"
ok() { (( $(echo "$1 >= 0.95 && $1 <= 1.05" | bc) )) && echo met || echo missed; }
echo "goal (within 5% of the target): ours $(ok "$fo"), theirs $(ok "$ft")"
