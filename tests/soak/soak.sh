#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make soak: SECONDS (default 600) of mixed load against one nbdkit built with ASan + UBSan
# (build-asan/), then every byte verified and the server's fds, threads and memory compared
# with what it had after warm-up. Not part of make check.
#   tests/soak/soak.sh [BUILD-DIR [SECONDS]]
# Load, all at once, on one 1 GiB memory export (-t 16):
#   - fio's nbd engine, 4 jobs of verified random writes in [512M, 768M), over and over;
#   - our nbdcopy: a 64 MiB random file into [0, 64M) and back, compared, over and over;
#   - connect/disconnect churn: our nbdinfo, over and over;
#   - bad clients (soak_bad.py): garbage, cut-off handshakes and payloads, idle clients.
# Exit 0 only if every check held; the figures go to stdout for the issue note.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$src/build-asan}" && pwd)
seconds=${2:-600}
T=$(mktemp -d /tmp/nbdsoak.XXXXXX)
fail() { echo "SOAK FAIL: $*" >&2; exit 1; }
cleanup() { kill $(jobs -p) 2>/dev/null; [ -f "$T/pid" ] && kill "$(cat "$T/pid")" 2>/dev/null; sleep 1; rm -rf "$T"; }
trap cleanup EXIT
command -v fio >/dev/null || fail "fio is missing (scripts/install-deps.sh)"

cd "$T"  # fio leaves its verify state files in the working directory
export ASAN_OPTIONS=detect_leaks=1:log_path=$T/asan
"$build/bin/nbdkit" -f -U "$T/sock" -P "$T/pid" -t 16 memory 1G 2>"$T/server.log" &
for _ in $(seq 200); do [ -s "$T/pid" ] && break; sleep 0.05; done
[ -s "$T/pid" ] || fail "server did not start: $(cat "$T/server.log")"
pid=$(cat "$T/pid")
U="nbd+unix:///?socket=$T/sock"

sample() {  # fds threads rss_mib
  echo "$(ls /proc/"$pid"/fd | wc -l) $(awk '/^Threads:/{print $2}' /proc/"$pid"/status) $(($(awk '/^VmRSS:/{print $2}' /proc/"$pid"/status) / 1024))"
}
deadline=$(($(date +%s) + seconds))
echo "soak: $seconds s against $build/bin/nbdkit (pid $pid)"
start=$(sample)
echo "start: fds threads rss_mib = $start"

# fio: verified random writes; each round writes and verifies its 4 x 64 MiB region.
( n=0; while [ "$(date +%s)" -lt "$deadline" ]; do
    fio --name=soak --ioengine=nbd --uri="$U" --rw=randwrite --bs=4k --iodepth=16 --size=64M --numjobs=4 \
      --offset=512M --offset_increment=64M --verify=crc32c --do_verify=1 --verify_fatal=1 \
      --output="$T/fio.log" >/dev/null 2>&1 || { echo "fio round $n failed: $(tail -5 "$T/fio.log")" >"$T/fio.fail"; exit 1; }
    n=$((n + 1)); echo $n >"$T/fio.rounds"
  done ) &
load=($!)
# nbdcopy: a new random 64 MiB into the first 64 MiB, copied back and compared.
( n=0; while [ "$(date +%s)" -lt "$deadline" ]; do
    head -c 64M /dev/urandom >"$T/in.img"
    "$build/bin/nbdcopy" "$T/in.img" "$U" 2>"$T/copy.err" || { echo "nbdcopy in, round $n: $(cat "$T/copy.err")" >"$T/copy.fail"; exit 1; }
    "$build/bin/nbdcopy" "$U" - 2>"$T/copy.err" | head -c 64M >"$T/out.img"
    cmp -s "$T/in.img" "$T/out.img" || { echo "nbdcopy round $n: bytes differ" >"$T/copy.fail"; exit 1; }
    n=$((n + 1)); echo $n >"$T/copy.rounds"
  done ) &
load+=($!)
# churn: connect, handshake, disconnect.
( n=0; while [ "$(date +%s)" -lt "$deadline" ]; do
    "$build/bin/nbdinfo" --size "$U" >"$T/info.out" 2>&1 && [ "$(cat "$T/info.out")" = 1073741824 ] ||
      { echo "nbdinfo round $n: $(cat "$T/info.out")" >"$T/info.fail"; exit 1; }
    n=$((n + 1)); echo $n >"$T/info.rounds"
  done ) &
load+=($!)
( /usr/bin/python3 "$here/soak_bad.py" "$T/sock" "$deadline" >"$T/bad.out" 2>&1 ||
    { echo "bad clients: $(tail -3 "$T/bad.out")" >"$T/bad.fail"; } ) &
load+=($!)

warm=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 30
  kill -0 "$pid" 2>/dev/null || fail "server died: $(tail -20 "$T/server.log")"
  s=$(sample)
  [ -n "$warm" ] || warm=$s
  echo "$(date +%T): fds threads rss_mib = $s; rounds: fio $(cat "$T/fio.rounds" 2>/dev/null || echo 0)," \
    "nbdcopy $(cat "$T/copy.rounds" 2>/dev/null || echo 0), nbdinfo $(cat "$T/info.rounds" 2>/dev/null || echo 0)"
done
wait "${load[@]}" 2>/dev/null
sleep 3  # let the last connections close
cat "$T/bad.out"
for f in fio copy info bad; do [ -f "$T/$f.fail" ] && fail "$(cat "$T/$f.fail")"; done
[ "$(cat "$T/fio.rounds" 2>/dev/null || echo 0)" -gt 0 ] || fail "no fio round completed"
[ "$(cat "$T/copy.rounds" 2>/dev/null || echo 0)" -gt 0 ] || fail "no nbdcopy round completed"
end=$(sample)
echo "end (idle): fds threads rss_mib = $end; after warm-up: $warm"
read -r fds0 th0 _ <<<"$start"
read -r _ _ rss0 <<<"$warm"
read -r fds1 th1 rss1 <<<"$end"
[ "$fds1" -le "$fds0" ] || fail "the idle server holds $fds1 fds, $fds0 at the start"
[ "$th1" -le "$th0" ] || fail "the idle server has $th1 threads, $th0 at the start"
[ $((rss1 - rss0)) -lt 128 ] || fail "memory grew $((rss1 - rss0)) MiB between warm-up and the end"
kill "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if ls "$T"/asan* >/dev/null 2>&1; then cat "$T"/asan*; fail "AddressSanitizer reported problems"; fi
grep -q "runtime error" "$T/server.log" && fail "UBSan: $(grep -m3 "runtime error" "$T/server.log")"
echo "soak: passed ($seconds s; every nbdcopy round compared, every fio round verified)"
