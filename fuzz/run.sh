#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every libFuzzer target of a -DNBD_FUZZ=ON build for SECONDS each (make fuzz), FUZZ_JOBS
# targets at a time (default: one per core).
#   fuzz/run.sh BUILD-DIR [SECONDS] [TARGET...]
# Each target starts from the seed corpus and the kept crashers, grows a working corpus in
# BUILD-DIR/fuzz-corpus/NAME (the repository's is left alone), and writes what it finds to
# BUILD-DIR/fuzz-findings/. Exit 1 if any target found a crash, a leak or a timeout.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: fuzz/run.sh BUILD-DIR [SECONDS] [TARGET...]}
seconds=${2:-60}
shift $(($# >= 2 ? 2 : 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(protocol server client uri data parse decoders)
jobs=${FUZZ_JOBS:-$(nproc)}
mkdir -p "$build/fuzz-findings"
for t in "${targets[@]}"; do
  [ -x "$build/bin/fuzz_$t" ] || { echo "fuzz/run.sh: $build/bin/fuzz_$t is missing (make fuzz builds it)" >&2; exit 1; }
done
# One target: its result is BUILD-DIR/fuzz-findings/NAME.status (0 = no finding).
run_one() {
  local t=$1 work=$build/fuzz-corpus/$1
  mkdir -p "$work" "$here/regressions/$t"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: unbounded allocation is a finding.
  ASAN_OPTIONS=detect_leaks=1 "$build/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-findings/$t-" \
      "$work" "$here/corpus/$t" "$here/regressions/$t" >"$build/fuzz-findings/$t.log" 2>&1
  echo $? >"$build/fuzz-findings/$t.status"
}
rm -f "$build"/fuzz-findings/*.status  # a target that never ends its run leaves no status: a finding
# The targets run FUZZ_JOBS at a time (default: one per core), each on one core.
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  echo "== fuzz_$t for ${seconds}s"
  run_one "$t" &
  running=$((running + 1))
done
wait
failed=()
for t in "${targets[@]}"; do
  if [ "$(cat "$build/fuzz-findings/$t.status" 2>/dev/null)" != 0 ]; then
    failed+=("$t")
    echo "-- fuzz_$t: finding"
    grep -E "^==[0-9]+==ERROR|SUMMARY|Test unit written|ALARM|out-of-memory" "$build/fuzz-findings/$t.log" | head -20
  fi
  echo "-- fuzz_$t: $(grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz-findings/$t.log" | tr '\n' ' ')"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: findings in: ${failed[*]} (inputs and logs in $build/fuzz-findings/; fix, then keep each input in fuzz/regressions/NAME/)"
  exit 1
fi
echo "fuzz/run.sh: no findings in ${targets[*]} (${seconds}s each)"
