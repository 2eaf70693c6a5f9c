#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tls-fallback under --tls=on: a plaintext client reads the 512-byte message (whatever export it
# names) and the plugin is never opened for it (its open is not in the log); a TLS client gets
# the plugin's bytes. The same through Debian's nbdkit, to show the bytes match upstream's.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit certtool

pki=$T/pki
make_pki "$pki"
msg="This NBD server requires TLS authentication before it will serve useful data."

for side in ours debian; do
  server=$NBDKIT; [ $side = debian ] && server=$REF_NBDKIT
  sock=$T/$side.sock
  rm -f "$sock"
  bg "$server" -f -v -U "$sock" -P "$sock.pid" --tls=on --tls-certificates="$pki" --filter=tls-fallback \
    --filter=log data '"secret bytes" @1048575 1' logfile="$T/$side.plugin.log" 2> "$T/$side.log"
  wait_for_file "$sock.pid"
  plain="nbd+unix:///secret?socket=$sock"
  tls="nbds+unix:///?socket=$sock&tls-certificates=$pki"
  expect_eq "$("$NBDINFO" --size "$plain")" "512" "$side: plaintext size"
  "$NBDCOPY" "$plain" "$T/$side.plain"
  expect_eq "$(head -c ${#msg} "$T/$side.plain")" "$msg" "$side: plaintext message"
  expect_eq "$(tail -c +$((${#msg} + 2)) "$T/$side.plain" | tr -d '\0' | wc -c)" "0" "$side: NUL padding"
  expect_eq "$(wc -c < "$T/$side.plain")" "512" "$side: plaintext length"
  ! "$NBDINFO" --can write "$plain" || fail "$side: the plaintext export is writable"
  # The plugin below has not been opened yet: the log filter below tls-fallback saw no connection.
  ! grep -q "Connect" "$T/$side.plugin.log" 2> /dev/null || fail "$side: the plugin was opened for a plaintext client"
  expect_eq "$("$NBDINFO" --size "$tls")" "1048576" "$side: TLS size"
  expect_eq "$("$NBDCOPY" "$tls" - | head -c 12)" "secret bytes" "$side: TLS bytes"
  grep -q "Connect" "$T/$side.plugin.log" || fail "$side: the TLS client did not reach the plugin"
done
cmp "$T/ours.plain" "$T/debian.plain" || fail "the plaintext export differs from upstream's"

# A message of our own, and the thread-model refusal (one line, exit 1).
expect_eq "$("$NBDKIT" -U - --tls=on --tls-certificates="$pki" --filter=tls-fallback memory 1M tlsreadme=hello \
  --run "$NBDCOPY \"\$uri\" - | head -c 5")" "hello" "tlsreadme="
cat > "$T/serial.sh" <<'SH'
case "$1" in thread_model) echo serialize_connections ;; get_size) echo 512 ;; pread) ;; *) exit 2 ;; esac
SH
chmod +x "$T/serial.sh"
expect_fail_line 1 "parallel connection" "$NBDKIT" -U - --tls=on --tls-certificates="$pki" --filter=tls-fallback \
  sh "$T/serial.sh" --run true
pass
