#!/usr/bin/env bash
# info plugin through our server, read by Debian's nbdsh: the export name reflected raw and
# base64-decoded (compared with Debian's info plugin), the time formats, and the refusals.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

read_export() {  # read_export SOCK NAME: the whole export, hex
  $NBDSH -c "
h.set_export_name('$2'); h.connect_unix('$1')
import sys; sys.stdout.write(h.pread(h.get_size(), 0).hex() if h.get_size() else '')"
}

for mode in exportname base64exportname; do
  start_server "$T/ours.sock" info mode=$mode
  bg "$REF_NBDKIT" -f -U "$T/ref.sock" -P "$T/ref.pid" info mode=$mode; wait_for_file "$T/ref.pid"
  for name in hello 'aGVsbG8gd29ybGQ=' 'AAEC/w==' 'x y z'; do
    ours=$(read_export "$T/ours.sock" "$name" 2>/dev/null) || ours=ERROR
    ref=$(read_export "$T/ref.sock" "$name" 2>/dev/null) || ref=ERROR
    expect_eq "$ours" "$ref" "mode=$mode export '$name' compared with Debian's info plugin"
  done
  kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null; PIDS=()
  rm -f "$T/ref.sock" "$T/ref.pid"
done

# time: 12 bytes, seconds within a few of date(1); uptime/conntime: small.
now=$(date +%s)
t=$("$NBDKIT" -U - info time --run "$NBDSH -u \"\$uri\" -c 'import sys; sys.stdout.write(h.pread(12, 0).hex())'")
[ ${#t} -eq 24 ] || fail "mode=time is not 12 bytes: $t"
secs=$((16#${t:0:16}))
[ $((secs - now)) -ge -2 ] && [ $((secs - now)) -le 5 ] || fail "mode=time says $secs, date says $now"
for m in uptime conntime; do
  u=$("$NBDKIT" -U - info $m --run "$NBDSH -u \"\$uri\" -c 'import sys; sys.stdout.write(h.pread(12, 0).hex())'")
  [ $((16#${u:0:16})) -lt 30 ] || fail "mode=$m is too large: $u"
  [ $((16#${u:16:8})) -lt 1000000 ] || fail "mode=$m microseconds out of range: $u"
done

# Flags as Debian's: multi-conn only where every connection sees the same bytes.
for m in exportname time; do
  ours=$("$NBDKIT" -U - info $m --run "$NBDINFO \"\$uri\"" | grep -E 'multi_conn|read_only|export-size')
  ref=$("$REF_NBDKIT" -U - info $m --run "$NBDINFO \"\$uri\"" | grep -E 'multi_conn|read_only|export-size')
  expect_eq "$ours" "$ref" "mode=$m flags compared with Debian's"
done

# Negative: the export cannot be written, bad base64 is refused, unknown modes are errors.
info=$("$NBDKIT" -U - info --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "is_read_only: true" "info export flags"
start_server "$T/b64.sock" info base64exportname
$NBDINFO "nbd+unix:///a!!?socket=$T/b64.sock" >/dev/null 2>&1 && fail "invalid base64 was accepted"
expect_fail_line 1 "mode=weather" "$NBDKIT" -U - info weather --run true

# mode=address: the client's address as the server saw it (TCP: IP:PORT; Unix socket: "unix").
read_export='import nbd,sys; h=nbd.NBD(); h.connect_uri(sys.argv[1]); sys.stdout.write(h.pread(h.get_size(),0).decode()); h.shutdown()'
port=$(free_port)
bg "$NBDKIT" -f -i 127.0.0.1 -p "$port" -P "$T/addr.pid" info address
wait_for_file "$T/addr.pid"
addr=$(/usr/bin/python3 -c "$read_export" "nbd://127.0.0.1:$port")
[[ "$addr" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "mode=address over TCP: got '$addr'"
addr=$("$NBDKIT" -U - info address --run "/usr/bin/python3 -c '$read_export' \"\$uri\"")
expect_eq "$addr" "unix" "mode=address over a Unix socket"
pass
