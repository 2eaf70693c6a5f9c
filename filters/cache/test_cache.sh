#!/usr/bin/env bash
# cache filter through our server: reads through the cache match the plugin's file by
# checksum; once warm, the plugin (seen by the log filter below the cache) is not asked again;
# writeback, writethrough and unsafe writes reach the plugin's file when upstream's do; a 1M
# cache over 6M keeps correct bytes and stays small; capabilities as Debian's nbdkit; dirty
# blocks are data in the map; bad parameters exit 1 with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit
TO="timeout 20"
sock=$T/sock
uri="nbd+unix:///?socket=$sock"
sum() { sha256sum < "$1" | cut -d' ' -f1; }
reads() { grep -c ' Read id=[0-9]* offset=.*\.\.\.$' "$T/log"; }

head -c 4M /dev/urandom > "$T/disk.img"

# 1. Reads populate the cache (cache-on-read): the second copy asks the plugin nothing.
start_server "$sock" --filter=cache --filter=log file "$T/disk.img" cache-on-read=true logfile="$T/log"
$TO "$NBDCOPY" "$uri" "$T/out1.img" || fail "first copy"
expect_eq "$(sum "$T/out1.img")" "$(sum "$T/disk.img")" "first copy through the cache"
first=$(reads)
[ "$first" -gt 0 ] || fail "the log filter saw no reads (test is void)"
$TO "$NBDCOPY" "$uri" "$T/out2.img" || fail "second copy"
expect_eq "$(sum "$T/out2.img")" "$(sum "$T/disk.img")" "second copy, from the cache"
expect_eq "$(reads)" "$first" "reads reaching the plugin after the cache is warm"
kill "$(cat "$sock.pid")"; wait
# Negative: without cache-on-read every copy reads the plugin again.
rm -f "$T/log"
start_server "$sock" --filter=cache --filter=log file "$T/disk.img" logfile="$T/log"
$TO "$NBDCOPY" "$uri" null: && first=$(reads) && $TO "$NBDCOPY" "$uri" null: || fail "copies without cache-on-read"
[ "$(reads)" -gt "$first" ] || fail "without cache-on-read the second copy did not read the plugin"
kill "$(cat "$sock.pid")"; wait

# 2. What the plugin's file holds before and after a flush, per mode (Debian's nbdkit agrees).
# Prints "B" when the write had reached the file before the flush, "A" after, "-" never.
visible() {
  head -c 1M /dev/zero > "$T/w.img"
  rm -f "$sock" "$sock.pid"
  bg "$1" -f -U "$sock" -P "$sock.pid" --filter=cache file "$T/w.img" cache=$2
  local pid=$!
  wait_for_file "$sock.pid"
  /usr/bin/python3 - "$uri" "$T/w.img" <<'PY'
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
seen = lambda: open(sys.argv[2], "rb").read()[70000:70005] == b"hello"
h.pwrite(b"hello", 70000)
before = seen()
h.flush()
print("B" if before else "A" if seen() else "-")
PY
  kill $pid; wait $pid 2>/dev/null
}
for m in writeback writethrough unsafe; do
  ours=$(visible "$NBDKIT" $m)
  ref=$(visible "$REF_NBDKIT" $m)
  [ -n "$ref" ] || fail "reference run printed nothing for cache=$m"
  expect_eq "$ours" "$ref" "when a cache=$m write reaches the plugin"
done
expect_eq "$(visible "$NBDKIT" writeback)$(visible "$NBDKIT" writethrough)$(visible "$NBDKIT" unsafe)" "AB-" \
  "writeback after flush, writethrough at once, unsafe never"

# 3. A 1M cache over 6M: bytes stay right through reads and unsafe writes (reclaim writes
# dirty blocks back), and the temporary file stays near 1M.
head -c 6M /dev/urandom > "$T/big.img"
head -c 6M /dev/urandom > "$T/new.img"
start_server "$sock" --filter=cache file "$T/big.img" cache=unsafe cache-max-size=1M cache-on-read=true
$TO "$NBDCOPY" "$uri" "$T/out3.img" || fail "copy through a 1M cache"
expect_eq "$(sum "$T/out3.img")" "$(sum "$T/big.img")" "reads through a 1M cache"
$TO "$NBDCOPY" "$T/new.img" "$uri" || fail "write through a 1M cache"
# Unsafe ignored nbdcopy's flush: the blocks still in the cache have not reached the file.
[ "$(sum "$T/big.img")" != "$(sum "$T/new.img")" ] || fail "unsafe: the whole image reached the plugin without a flush"
rm -f "$T/out3.img"
$TO "$NBDCOPY" "$uri" "$T/out3.img" || fail "copy back through a 1M cache"
expect_eq "$(sum "$T/out3.img")" "$(sum "$T/new.img")" "writes through a 1M cache"
pid=$(cat "$sock.pid")
cachefd=$(find /proc/"$pid"/fd -lname '*nbdkit-cache-*' | head -1)
[ -n "$cachefd" ] || fail "no temporary cache file open in the server"
kb=$(( $(stat -L -c %b "$cachefd") * $(stat -L -c %B "$cachefd") / 1024 ))
[ "$kb" -le 1280 ] || fail "the cache file holds ${kb}K, over its 1M limit"
[ "$kb" -ge 256 ] || fail "the cache file holds only ${kb}K (is anything cached?)"
kill "$pid"; wait

# 4. Capabilities as Debian's nbdkit reports them (but the maximum block size: our server caps
# every export's at 32M, its payload limit, where upstream passes the filter's 4G-1 on).
caps() {
  $TO "$1" -U - $2 --filter=cache $3 --run "$NBDINFO \"\$uri\"" | grep -E '^\s*(can_|is_|block_size_(min|pref))' | tr -d '\t\n'
}
for args in "memory 1M" "memory 1M cache=writethrough" "memory 1M cache=unsafe" "-r|pattern 1M"; do
  opt=; [[ "$args" == -r* ]] && opt=-r && args=${args#-r|}
  ours=$(caps "$NBDKIT" "$opt" "$args"); ref=$(caps "$REF_NBDKIT" "$opt" "$args")
  [ -n "$ref" ] || fail "reference nbdinfo printed nothing for '$args'"
  expect_eq "$ours" "$ref" "capabilities with $opt $args"
done

# 5. A dirty block over a hole is data in the map and in a copy (upstream 1.32 says hole).
out=$($TO "$NBDKIT" -U - --filter=cache memory 1M --run "/usr/bin/python3 -c 'import nbd,sys; h=nbd.NBD(); h.connect_uri(sys.argv[1]); h.pwrite(b\"x\"*10, 70000)' \"\$uri\" && $NBDINFO --map \"\$uri\" && $NBDCOPY \"\$uri\" $T/m.img") \
  || fail "map run"
expect_eq "$(echo "$out" | tr -s ' ' | sed 's/^ //' | tr '\n' ';')" "0 65536 3 hole,zero;65536 65536 0 data;131072 917504 3 hole,zero;" "map with a dirty block"
expect_eq "$(od -An -c -j 70000 -N 3 "$T/m.img" | tr -d ' ')" "xxx" "copy of a dirty block"

# 6. Bad parameters: one line naming the parameter, exit 1.
for kv in cache=sometimes cache-min-block-size=1024 cache-min-block-size=5000 cache-max-size=100K \
          cache-high-threshold=0 cache-low-threshold=0 cache-on-read=relative "cache-max-size=1M cache-low-threshold=96"; do
  expect_fail_line 1 "${kv##* }" "$NBDKIT" -U - --filter=cache memory 1M $kv --run true
done
pass
