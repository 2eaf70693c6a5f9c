#!/usr/bin/env bash
# log filter through our server: for the same client requests (Debian's nbdsh) the log has the
# same lines, keys and order as Debian's nbdkit writes for the same stack (timestamps removed).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

script='
h.add_meta_context("base:allocation")
h.connect_uri(uri)
h.pwrite(b"x" * 512, 0, nbd.CMD_FLAG_FUA)
assert h.pread(512, 0) == b"x" * 512
h.zero(512, 1024, nbd.CMD_FLAG_FAST_ZERO)
h.zero(512, 1024, nbd.CMD_FLAG_NO_HOLE)
h.trim(512, 4096, nbd.CMD_FLAG_FUA)
h.flush()
h.cache(512, 0)
h.block_status(65536, 0, lambda *a: 0)
h.block_status(65536, 0, lambda *a: 0, nbd.CMD_FLAG_REQ_ONE)
try:
    h.pread(512, 2048)
except nbd.Error as e:
    pass
h.shutdown()
'
# run SERVER LOG ARGS...: $script against SERVER; LOG gets the log without timestamps.
run() {
  local server=$1 log=$2; shift 2
  rm -f "$T/raw.log"
  "$server" -U - "$@" logfile="$T/raw.log" --run "uri=\$uri $NBDSH -c '
import os
uri = os.environ[\"uri\"]
$script'" || fail "$server $* failed"
  grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} ' "$T/raw.log" || fail "no timestamps: $(head -1 "$T/raw.log")"
  sed -E 's/^[^ ]+ [^ ]+ //' "$T/raw.log" > "$log"
}

run "$NBDKIT" "$T/ours.log" --filter=log memory 1M
run "$REF_NBDKIT" "$T/ref.log" --filter=log memory 1M
diff -u "$T/ref.log" "$T/ours.log" || fail "log differs from upstream's"
grep -q '^connection=1 \.\.\.Extents id=8 extents=(0x0 .*) return=0$' "$T/ours.log" ||
  fail "no extents line in: $(cat "$T/ours.log")"

# Errors: every read fails with EIO, logged as return=-1 error=EIO.
script='
h.connect_uri(uri)
h.pwrite(b"y" * 512, 512)
try:
    h.pread(512, 0)
    raise SystemExit("the read did not fail")
except nbd.Error as e:
    pass
h.shutdown()
'
run "$NBDKIT" "$T/ours.log" --filter=log --filter=error memory 1M error-pread-rate=1 error-pread=EIO 2>/dev/null
run "$REF_NBDKIT" "$T/ref.log" --filter=log --filter=error memory 1M error-pread-rate=1 error-pread=EIO 2>/dev/null
diff -u "$T/ref.log" "$T/ours.log" || fail "error log differs from upstream's"
grep -q '\.\.\.Read id=2 return=-1 error=EIO$' "$T/ours.log" || fail "no error line in: $(cat "$T/ours.log")"

# Below nozero zeromode=emulate the log sees writes where the client sent zeroes.
script='
h.connect_uri(uri)
h.pwrite(b"z" * 4096, 0)
h.zero(2048, 1024, nbd.CMD_FLAG_FUA)
try:
    h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO)
    raise SystemExit("fast zero succeeded under zeromode=emulate")
except nbd.Error as e:
    pass
assert h.pread(4096, 0) == b"z" * 1024 + bytes(2048) + b"z" * 1024
h.shutdown()
'
run "$NBDKIT" "$T/ours.log" --filter=nozero --filter=log memory 1M zeromode=emulate
run "$REF_NBDKIT" "$T/ref.log" --filter=nozero --filter=log memory 1M zeromode=emulate
diff -u "$T/ref.log" "$T/ours.log" || fail "log under nozero differs from upstream's"

# Capabilities as a filter above changes them: nozero's default mode hides zero (zero=0).
for server in "$NBDKIT" "$REF_NBDKIT"; do
  "$server" -U - --filter=log --filter=nozero memory 1M logfile="$T/raw.log" --run "$NBDINFO --size \"\$uri\" >/dev/null"
  grep -o 'Connect .*' "$T/raw.log" > "$T/$([ "$server" = "$NBDKIT" ] && echo ours || echo ref).log"
done
diff -u "$T/ref.log" "$T/ours.log" || fail "Connect line above nozero differs from upstream's"
grep -q ' zero=0 ' "$T/ours.log" || fail "nozero did not hide zero: $(cat "$T/ours.log")"

# A stack: the log under offset sees shifted offsets, the same as upstream's.
script='
h.connect_uri(uri)
h.pwrite(b"s" * 512, 0)
h.pread(512, 1024)
h.shutdown()
'
run "$NBDKIT" "$T/ours.log" --filter=offset --filter=log memory 1M offset=3000 range=8K
run "$REF_NBDKIT" "$T/ref.log" --filter=offset --filter=log memory 1M offset=3000 range=8K
diff -u "$T/ref.log" "$T/ours.log" || fail "log under offset differs from upstream's"
grep -q 'Read id=2 offset=0xfb8 count=0x200' "$T/ours.log" || fail "read at 1024 not shifted by 3000: $(cat "$T/ours.log")"

# logscript: one bash run per entry, fields as variables, in order. (Upstream runs its scripts
# without waiting, so their order varies: only the fields are compared with upstream's README.)
"$NBDKIT" -U - --filter=log memory 1M \
  logscript='echo "$type $act ${connection:-} ${id:-} ${offset:-} ${count:-} ${return:-} ${extents[1]:-}" >> '"$T/script.out" \
  --run "$NBDSH -u \"\$uri\" -c 'h.pwrite(b\"a\" * 512, 512)'" || fail "logscript session"
grep -v -e '^PRINT Ready' -e '^PRINT Fork' -e Preconnect "$T/script.out" > "$T/script.got"
printf '%s\n' "PRINT Connect 1     " "ENTER Write 1 1 0x200 0x200  " "LEAVE Write 1 1   0 " "PRINT Disconnect 1     " > "$T/script.want"
diff -u "$T/script.want" "$T/script.got" || fail "logscript output"

# logappend keeps what was there; without it the file starts again.
echo "2000-01-01 00:00:00.000000 old" > "$T/app.log"
"$NBDKIT" -U - --filter=log memory 1M logfile="$T/app.log" logappend=true --run "$NBDINFO --size \"\$uri\" >/dev/null"
expect_eq "$(head -1 "$T/app.log")" "2000-01-01 00:00:00.000000 old" "logappend=true kept the old line"
"$NBDKIT" -U - --filter=log memory 1M logfile="$T/app.log" --run "$NBDINFO --size \"\$uri\" >/dev/null"
grep -q old "$T/app.log" && fail "logappend=false kept the old line"

# Negative: a log file that cannot be created is one line naming it.
expect_fail_line 1 "logfile=/nonexistent/x.log" "$NBDKIT" -U - --filter=log memory 1M logfile=/nonexistent/x.log --run true
pass
