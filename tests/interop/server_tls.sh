#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Our server over TLS (--tls=require/on, X.509 with and without --tls-verify-peer, PSK; TCP and
# Unix sockets) with Debian's nbdinfo, nbdcopy and nbdsh, qemu-img and qemu-io, and our own
# nbdinfo/nbdcopy; $uri and $tls in --run; STARTTLS rules on the wire. Negative cases: a
# plaintext client under --tls=require, a wrong PSK, an unknown PSK user, an expired client
# certificate, one from another CA, none at all under --tls-verify-peer: each refused, with a
# message on the client's side and in the server's log. Bad TLS options: one line, exit 1.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
require_peer nbdinfo nbdcopy certtool psktool qemu-img qemu-io

pki=$T/pki
make_pki "$pki"
psktool -u alice -p "$T/keys.psk" >/dev/null 2>&1 || fail "psktool failed"
psktool -u alice -p "$T/wrong.psk" >/dev/null 2>&1 || fail "psktool failed"  # same user, other key
psktool -u bob -p "$T/bob.psk" >/dev/null 2>&1 || fail "psktool failed"
mkdir -p "$T/qpsk" && cp "$T/keys.psk" "$T/qpsk/keys.psk"  # qemu wants DIR/keys.psk

# The content: 1 MiB of the pattern plugin is well known; a data export for exact bytes.
want=$("$REF_NBDKIT" pattern 1M --run "$REF_NBDCOPY \"\$uri\" - | md5sum")

# ---- X.509, TCP, client certificates verified ----
P=$(free_port)
bg "$NBDKIT" -f -i 127.0.0.1 -p "$P" -P "$T/x.pid" --tls=require --tls-certificates="$pki" --tls-verify-peer \
  -D nbdkit.tls.session=1 -v pattern 1M 2> "$T/x.log"
wait_for_file "$T/x.pid"
X="nbds://localhost:$P/?tls-certificates=$pki"
out=$("$REF_NBDINFO" "$X") || fail "Debian's nbdinfo over X.509 failed: $(tail -5 "$T/x.log")"
expect_contains "$out" "protocol: newstyle-fixed with TLS" "Debian's nbdinfo protocol line"
expect_contains "$out" "export-size: 1048576 (1M)" "Debian's nbdinfo size"
expect_eq "$("$REF_NBDCOPY" "$X" - | md5sum)" "$want" "Debian's nbdcopy over X.509"
expect_eq "$("$NBDCOPY" "$X" - | md5sum)" "$want" "our nbdcopy over X.509 (a URI with tls-certificates=)"
"$NBDINFO" --is tls "$X" || fail "our nbdinfo: --is tls is false"
expect_eq "$(/usr/bin/python3 -m nbd -c "
h.set_uri_allow_local_file(True)
h.connect_uri('$X')
print(h.get_tls_negotiated(), bytes(h.pread(8, 8)).hex())
h.shutdown()")" "True 0000000000000008" "nbdsh over X.509"
qemu-img info --output=json --object tls-creds-x509,id=tls0,endpoint=client,dir="$pki" \
  --image-opts driver=nbd,host=localhost,port="$P",tls-creds=tls0 > "$T/qi.json" || fail "qemu-img info over TLS"
grep -q '"virtual-size": 1048576' "$T/qi.json" || fail "qemu-img size: $(cat "$T/qi.json")"
# The server saw the client's certificate (-D nbdkit.tls.session=1).
grep -q "TLS session: (TLS1" "$T/x.log" || fail "no TLS session line in the server log"
grep -q "peer: O=NBD Test,CN=client.example.com" "$T/x.log" || fail "the client's DN is not in the server log"

# Negative cases against this server.
expect_fail_line 1 "TLS" "$REF_NBDINFO" --size "nbd://localhost:$P/"
grep -q "without TLS, but --tls=require" "$T/x.log" || fail "the server did not log the plaintext client"
n=$(grep -c "TLS handshake:" "$T/x.log")
for dir in caonly expired foreign; do
  "$REF_NBDINFO" --size "nbds://localhost:$P/?tls-certificates=$pki/$dir" > /dev/null 2> "$T/c.err" &&
    fail "a client with $dir/ was let in under --tls-verify-peer"
  [ -s "$T/c.err" ] || fail "the $dir client printed no error"
  m=$(grep -c "TLS handshake:" "$T/x.log")
  [ "$m" -gt "$n" ] || fail "the server logged nothing for the $dir client"
  n=$m
done
# Still serving after all that.
expect_eq "$("$NBDCOPY" "$X" - | md5sum)" "$want" "copy after the refused clients"

# ---- X.509 over a Unix socket, without peer verification; plaintext allowed (--tls=on) ----
rm -f "$T/u.sock"
bg "$NBDKIT" -f -U "$T/u.sock" -P "$T/u.pid" --tls=on --tls-certificates="$pki" memory 4M
wait_for_file "$T/u.pid"
U="nbds+unix:///?socket=$T/u.sock&tls-certificates=$pki"
qemu-io --object tls-creds-x509,id=tls0,endpoint=client,dir="$pki" \
  --image-opts driver=nbd,server.type=unix,server.path="$T/u.sock",tls-creds=tls0,tls-hostname=localhost \
  -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k' > "$T/qio.out" || fail "qemu-io over TLS on a Unix socket"
grep -q "read 65536/65536" "$T/qio.out" || fail "qemu-io read: $(cat "$T/qio.out")"
expect_eq "$("$REF_NBDCOPY" "$U" - | head -c 65536 | tr -d '\253' | wc -c)" "0" "qemu-io's bytes via nbdcopy"
"$REF_NBDINFO" --is tls "$U" || fail "Debian's nbdinfo: --is tls false on the Unix socket"
# --tls=on: a plaintext client is served too, and sees the same bytes.
! "$REF_NBDINFO" --is tls "nbd+unix:///?socket=$T/u.sock" || fail "a plaintext client is reported as TLS"
expect_eq "$("$REF_NBDCOPY" "nbd+unix:///?socket=$T/u.sock" - | head -c 65536 | tr -d '\253' | wc -c)" "0" \
  "plaintext client under --tls=on"

# ---- PSK ----
PP=$(free_port)
bg "$NBDKIT" -f -i 127.0.0.1 -p "$PP" -P "$T/p.pid" --tls=require --tls-psk="$T/keys.psk" -D nbdkit.tls.session=1 \
  -v data ' "hello PSK" @1048575 1 ' 2> "$T/p.log"
wait_for_file "$T/p.pid"
PU="nbds://alice@localhost:$PP/?tls-psk-file=$T/keys.psk"
expect_eq "$("$REF_NBDINFO" --size "$PU")" "1048576" "Debian's nbdinfo over PSK"
expect_eq "$("$REF_NBDCOPY" "$PU" - | head -c 9)" "hello PSK" "Debian's nbdcopy over PSK"
expect_eq "$("$NBDCOPY" "$PU" - | head -c 9)" "hello PSK" "our nbdcopy over PSK"
qemu-img info --object tls-creds-psk,id=tls0,endpoint=client,dir="$T/qpsk",username=alice \
  --image-opts driver=nbd,host=localhost,port="$PP",tls-creds=tls0 > "$T/qp.out" || fail "qemu-img over PSK"
grep -q "virtual size: 1 MiB" "$T/qp.out" || fail "qemu-img over PSK: $(cat "$T/qp.out")"
grep -q "peer: alice" "$T/p.log" || fail "the PSK user is not in the server log"
n=$(grep -c "TLS handshake:" "$T/p.log")
"$REF_NBDINFO" --size "nbds://alice@localhost:$PP/?tls-psk-file=$T/wrong.psk" > /dev/null 2> "$T/c.err" &&
  fail "a wrong PSK was let in"
[ -s "$T/c.err" ] || fail "the wrong-PSK client printed no error"
"$REF_NBDINFO" --size "nbds://bob@localhost:$PP/?tls-psk-file=$T/bob.psk" > /dev/null 2> "$T/c.err" &&
  fail "an unknown PSK user was let in"
[ -s "$T/c.err" ] || fail "the unknown-user client printed no error"
[ "$(grep -c "TLS handshake:" "$T/p.log")" -ge $((n + 2)) ] || fail "the server did not log both PSK refusals"

# ---- $uri and $tls in --run, --print-uri ----
expect_eq "$("$NBDKIT" -U - --tls=require --tls-psk="$T/keys.psk" null --run 'echo "${uri%%\?*} $tls"')" \
  "nbds+unix:// 2" "\$uri and \$tls under --tls=require"
expect_eq "$("$NBDKIT" -U - --tls=on --tls-psk="$T/keys.psk" null --run 'echo "${uri%%\?*} $tls"')" \
  "nbd+unix:// 1" "\$uri and \$tls under --tls=on"
expect_eq "$("$NBDKIT" -U - --tls=off null --run 'echo "${uri%%\?*} ${tls-unset}"')" "nbd+unix:// unset" \
  "\$tls is unset under --tls=off"

# ---- STARTTLS rules on the wire: a second STARTTLS, bytes smuggled after STARTTLS ----
cat > "$T/probe.py" <<'PY'
import socket, ssl, struct, sys
MAGIC = 0x49484156454F5054
def opt(s, o, data=b""): s.sendall(struct.pack(">QII", MAGIC, o, len(data)) + data)
def rep(s):
    h = b""
    while len(h) < 20:
        c = s.recv(20 - len(h))
        if not c: return None
        h += c
    _, o, t, n = struct.unpack(">QIII", h)
    p = b""
    while len(p) < n: p += s.recv(n - len(p))
    return o, t
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.recv(18); s.sendall(struct.pack(">I", 1))
if sys.argv[2] == "twice":
    opt(s, 5); print("first", hex(rep(s)[1]))
    ctx = ssl.create_default_context(cafile=sys.argv[3]); ctx.check_hostname = False
    t = ctx.wrap_socket(s, server_hostname="localhost")
    opt(t, 5); print("second", hex(rep(t)[1]))
else:  # STARTTLS with a plaintext option glued on in the same write
    s.sendall(struct.pack(">QII", MAGIC, 5, 0) + struct.pack(">QII", MAGIC, 3, 0))
    r = rep(s)
    print("injected", "closed" if r is None else hex(r[1]))
PY
rm -f "$T/s.sock"
bg "$NBDKIT" -f -U "$T/s.sock" -P "$T/s.pid" --tls=require --tls-certificates="$pki" null 2> "$T/s.log"
wait_for_file "$T/s.pid"
expect_eq "$(/usr/bin/python3 "$T/probe.py" "$T/s.sock" twice "$pki/ca-cert.pem" | tr '\n' ' ')" \
  "first 0x1 second 0x80000003 " "STARTTLS twice: ACK, then NBD_REP_ERR_INVALID"
expect_eq "$(/usr/bin/python3 "$T/probe.py" "$T/s.sock" inject)" "injected closed" "bytes smuggled after STARTTLS"
"$REF_NBDINFO" --size "nbds+unix:///?socket=$T/s.sock&tls-certificates=$pki" > /dev/null ||
  fail "the server stopped serving after the bad clients"

# ---- bad TLS options: one line, exit 1 ----
expect_fail_line 1 "--tls-certificates=$T/nonexistent" "$NBDKIT" --tls=require --tls-certificates="$T/nonexistent" null
expect_fail_line 1 "--tls-psk=$T/nonexistent" "$NBDKIT" --tls=require --tls-psk="$T/nonexistent" null
expect_fail_line 1 "server-cert.pem" "$NBDKIT" --tls=require --tls-certificates="$pki/caonly" null
expect_fail_line 1 "--tls=maybe" "$NBDKIT" --tls=maybe null
expect_fail_line 1 "oldstyle" "$NBDKIT" -o --tls=require --tls-certificates="$pki" null
# --tls=on without certificates: a warning, then plaintext, as upstream.
out=$("$NBDKIT" -U - --tls=on --tls-certificates="$T/nonexistent" null --run "$REF_NBDINFO --size \"\$uri\"" 2>&1)
expect_contains "$out" "TLS is disabled" "--tls=on without certificates warns"
expect_contains "$out" "0" "--tls=on without certificates still serves"
pass
