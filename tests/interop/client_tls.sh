#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Our client (via our nbdinfo) over TLS against Debian's nbdkit: X.509 on TCP and Unix
# sockets (with peer verification), PSK; and the failures: no TLS when the server requires
# it, a wrong PSK user, certificates the server does not trust.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdinfo
require_peer nbdkit certtool psktool

pki=$T/pki
make_pki "$pki"
psktool -u alice -p "$T/keys.psk" >/dev/null 2>&1 || fail "psktool failed"

P=$(free_port)
bg "$REF_NBDKIT" -f -i 127.0.0.1 -p "$P" -P "$T/x.pid" --tls=require --tls-certificates="$pki" \
  --tls-verify-peer data ' "hello TLS" @1048575 1 '
wait_for_file "$T/x.pid"
rm -f "$T/tls.sock"
bg "$REF_NBDKIT" -f -U "$T/tls.sock" -P "$T/u.pid" --tls=require --tls-certificates="$pki" pattern 2M
wait_for_file "$T/u.pid"
PP=$(free_port)
bg "$REF_NBDKIT" -f -i 127.0.0.1 -p "$PP" -P "$T/p.pid" --tls=require --tls-psk="$T/keys.psk" memory 3M
wait_for_file "$T/p.pid"

# X.509 over TCP, client certificate checked by the server.
out=$("$NBDINFO" "nbds://localhost:$P/?tls-certificates=$pki") || fail "X.509 nbdinfo failed"
expect_contains "$out" "protocol: newstyle-fixed with TLS, using structured packets" "X.509 protocol line"
expect_contains "$out" "export-size: 1048576 (1M)" "X.509 size"
"$NBDINFO" --is tls "nbds://localhost:$P/?tls-certificates=$pki" || fail "--is tls is false over X.509"
expect_eq "$("$NBDINFO" --map "nbds://127.0.0.1:$P/?tls-certificates=$pki" | head -1 | tr -s ' ')" \
  " 0 32768 0 data" "X.509 map first extent"
# The same through Debian's nbdinfo, to be sure the expected output is what a peer sees.
expect_eq "$("$NBDINFO" --json "nbds://localhost:$P/?tls-certificates=$pki")" \
  "$("$REF_NBDINFO" --json "nbds://localhost:$P/?tls-certificates=$pki")" "X.509 JSON vs Debian's nbdinfo"

# X.509 over a Unix socket (no host name to check, unless tls-hostname= names one).
expect_eq "$("$NBDINFO" --size "nbds+unix:///?socket=$T/tls.sock&tls-certificates=$pki")" "2097152" "Unix TLS size"
expect_eq "$("$NBDINFO" --size "nbds+unix:///?socket=$T/tls.sock&tls-certificates=$pki&tls-hostname=localhost")" \
  "2097152" "Unix TLS with the right tls-hostname"

# PSK with the user in the URI.
expect_eq "$("$NBDINFO" --size "nbds://alice@localhost:$PP/?tls-psk-file=$T/keys.psk")" "3145728" "PSK size"
"$NBDINFO" --can write "nbds://alice@localhost:$PP/?tls-psk-file=$T/keys.psk" || fail "PSK --can write"

# Failures: each one line, exit 1, never a hang.
expect_fail_line 1 "TLS" "$NBDINFO" --size "nbd://localhost:$P/"
expect_fail_line 1 "no key for user 'bob'" "$NBDINFO" --size "nbds://bob@localhost:$PP/?tls-psk-file=$T/keys.psk"
expect_fail_line 1 "certificate" "$NBDINFO" --size "nbds://localhost:$P/?tls-certificates=$pki/otherca"
expect_fail_line 1 "certificate" "$NBDINFO" --size \
  "nbds+unix:///?socket=$T/tls.sock&tls-certificates=$pki&tls-hostname=wronghost"
expect_fail_line 1 "tls-psk-file" "$NBDINFO" --size "nbds+unix:///?socket=$T/tls.sock&tls-psk-file=$T/nonexistent.psk"
pass
