#!/usr/bin/env bash
# stats filter through our server: for the same requests (Debian's nbdsh as the client) the
# report has upstream's layout line for line, times and rates aside; statsappend keeps earlier
# reports; a parallel copy is counted byte for byte; bad values are refused.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit

cat > "$T/work.py" <<'PY'
for i in range(10): h.pread(4096, i * 4096)
for i in range(5): h.pread(512, 512 * i)
h.pread(1000, 3)
h.pread(65536, 1 << 16)
for i in range(7): h.pwrite(b"a" * 8192, 8192 * i + (1 << 20))
for i in range(3): h.zero(65536, 3 << 20 | i << 16)
h.zero(1 << 20, 0)
h.trim(4096, 2 << 20)
h.trim(8192, 3 << 19)
h.trim(8192, 5 << 19)
h.flush()
h.block_status(1 << 20, 0, lambda *a: 0)
PY
# Times and rates differ from run to run: blank them out, keep everything else.
normalize() { sed -E 's/[0-9]+\.[0-9]{6} s/T s/; s/, [^,]+\/s op, [^,]+\/s total$/, R op, R total/; s/^(total: .*), [^,]+\/s$/\1, R/' "$1"; }

run() {  # run SERVER STATSFILE [ARGS...]: the workload through SERVER's stats filter
  local server=$1 file=$2; shift 2
  "$server" -U - --filter=stats memory 16M statsfile="$file" "$@" \
    --run "$NBDSH --base-allocation -u \"\$uri\" -c 'exec(open(\"$T/work.py\").read())'" || fail "$server: workload"
}
run "$NBDKIT" "$T/ours.txt"
run "$REF_NBDKIT" "$T/ref.txt"
expect_eq "$(normalize "$T/ours.txt")" "$(normalize "$T/ref.txt")" "report layout against upstream's"
expect_contains "$(cat "$T/ours.txt")" "write: 7 ops, " "write count"
expect_contains "$(cat "$T/ours.txt")" "    13 bits: 100.0% (7 reqs, 56.00 KiB total)" "write sizes"

# Another threshold, appended to the same file twice: both reports are there, in upstream's layout.
for server in "$NBDKIT" "$REF_NBDKIT"; do
  f=$T/append-$([ "$server" = "$NBDKIT" ] && echo ours || echo ref).txt
  echo "earlier line" > "$f"
  run "$server" "$f" statsthreshold=50 statsappend=true
  run "$server" "$f" statsthreshold=50 statsappend=yes
done
expect_eq "$(normalize "$T/append-ours.txt")" "$(normalize "$T/append-ref.txt")" "appended reports"
expect_eq "$(grep -c '^total: ' "$T/append-ours.txt") $(head -1 "$T/append-ours.txt")" "2 earlier line" \
  "statsappend keeps what was there"
run "$NBDKIT" "$T/append-ours.txt" statsthreshold=0
expect_eq "$(grep -c '^total: ' "$T/append-ours.txt") $(grep -c 'breakdown' "$T/append-ours.txt")" "1 0" \
  "without statsappend the file is replaced; statsthreshold=0 has no breakdown"

# A parallel copy with several connections: every byte is counted once.
"$NBDKIT" -U - --filter=stats --filter=noextents pattern 8M statsfile="$T/copy.txt" \
  --run "$NBDCOPY --connections=4 --requests=16 \"\$uri\" null:" || fail "copy through stats"
expect_contains "$(cat "$T/copy.txt")" $'\nread: ' "reads counted"
expect_eq "$(grep '^read: ' "$T/copy.txt" | cut -d, -f3)" " 8.00 MiB" "bytes read in a parallel copy"

# Negative: values that cannot be honoured are refused with one line naming the parameter.
expect_fail_line 1 "statsthreshold" "$NBDKIT" -U - --filter=stats null 1M statsfile="$T/x" statsthreshold=101 --run true
expect_fail_line 1 "statsfile" "$NBDKIT" -U - --filter=stats null 1M --run true
expect_fail_line 1 "statsfile" "$NBDKIT" -U - --filter=stats null 1M statsfile=/nonexistent/dir/x --run true
expect_fail_line 1 "statsappend" "$NBDKIT" -U - --filter=stats null 1M statsfile="$T/x" statsappend=maybe --run true
pass
