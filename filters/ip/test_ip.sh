#!/usr/bin/env bash
# ip filter through our server: clients from distinct loopback source addresses, from [::1] and
# over a Unix socket (by uid) are admitted or refused before the greeting; a refused client
# never reaches the layers below (the log filter under ip records no Preconnect for it) nor
# the plugin's open; bad rules are one line naming the parameter.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdinfo python3
GREET="/usr/bin/python3 $NBD_SRC/filters/ip/greeting.py"

"$NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" $T/ref.img" || fail "reference copy"
ref_sum=$(md5sum <"$T/ref.img")

n=0
# tcp_server ADDR ARGS...: our nbdkit on ADDR:$port with ip over log over pattern.
tcp_server() {
  local addr=$1; shift
  n=$((n + 1)); port=$(free_port); log=$T/log$n; pidf=$T/pid$n
  bg "$NBDKIT" -f -i "$addr" -p "$port" -P "$pidf" --filter=ip --filter=log pattern 1M logfile="$log" "$@"
  wait_for_file "$pidf"
  srv=${PIDS[-1]}
}
stop_server() { kill "$srv"; wait "$srv" 2>/dev/null; }
preconnects() { grep -c ' Preconnect ' "$log"; }

# allow= then deny=all: only the listed sources get in.
tcp_server 127.0.0.1 allow=127.0.0.1,127.0.0.3 deny=all
"$NBDCOPY" "nbd://127.0.0.1:$port" "$T/out.img" || fail "copy from an allowed address"
expect_eq "$(md5sum <"$T/out.img")" "$ref_sum" "data through ip from 127.0.0.1"
copied=$(preconnects) opens=$(grep -c ' Connect ' "$log")
[ "$copied" -ge 1 ] && [ "$opens" -eq "$copied" ] || fail "copy: $copied preconnects, $opens opens"
expect_eq "$($GREET 127.0.0.3 127.0.0.1 "$port")" greeting "allowed 127.0.0.3"
expect_eq "$($GREET 127.0.0.2 127.0.0.1 "$port")" closed "denied 127.0.0.2 gets no greeting"
expect_eq "$($GREET 127.0.0.4 127.0.0.1 "$port")" closed "denied 127.0.0.4 gets no greeting"
expect_eq "$(preconnects)" $((copied + 1)) "refused clients never reached the layer below ip"
expect_eq "$(grep -c ' Connect ' "$log")" "$opens" "no open for the greeting-only and refused clients"
stop_server

# Only deny=: everyone else gets in (upstream's rule 3). A CIDR range.
tcp_server 127.0.0.1 deny=127.0.0.0/30
expect_eq "$($GREET 127.0.0.2 127.0.0.1 "$port")" closed "127.0.0.2 in 127.0.0.0/30"
expect_eq "$($GREET 127.0.0.3 127.0.0.1 "$port")" closed "127.0.0.3 in 127.0.0.0/30"
expect_eq "$($GREET 127.0.0.4 127.0.0.1 "$port")" greeting "127.0.0.4 outside 127.0.0.0/30"
expect_eq "$(preconnects)" 1 "only the admitted client reached the layer below"
stop_server

# Only allow=: admits everyone (nothing is denied).
tcp_server 127.0.0.1 allow=127.0.0.9
expect_eq "$($GREET 127.0.0.5 127.0.0.1 "$port")" greeting "allow alone denies nothing"
stop_server

# IPv6 loopback.
if ip -6 addr show lo 2>/dev/null | grep -q 'inet6 ::1/128'; then
  tcp_server ::1 allow=::1 deny=all
  out=$(/usr/bin/nbdinfo --size "nbd://[::1]:$port") || fail "Debian nbdinfo from ::1"
  expect_eq "$out" 1048576 "size through ip from ::1"
  expect_eq "$($GREET ::1 ::1 "$port")" greeting "allowed ::1"
  stop_server
  tcp_server ::1 allow=anyipv4 deny=::1/128
  expect_eq "$($GREET ::1 ::1 "$port")" closed "denied ::1/128"
  /usr/bin/nbdinfo --size "nbd://[::1]:$port" >/dev/null 2>&1 && fail "Debian nbdinfo got past deny=::1/128"
  expect_eq "$(preconnects)" 0 "refused IPv6 clients never reached the layer below"
  stop_server
else
  echo "NOTE: no ::1 on lo; the IPv6 cases did not run" >&2
fi

# Unix socket by uid.
me=$(id -u)
start_server "$T/sock" --filter=ip --filter=log pattern 1M logfile="$T/ulog" allow=uid:$me deny=all
"$NBDCOPY" "nbd+unix:///?socket=$T/sock" "$T/out2.img" || fail "copy over unix as uid $me"
expect_eq "$(md5sum <"$T/out2.img")" "$ref_sum" "data through ip over unix"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
start_server "$T/sock2" --filter=ip --filter=log pattern 1M logfile="$T/ulog2" deny=uid:$me
expect_eq "$($GREET unix "$T/sock2")" closed "deny=uid:$me gets no greeting"
/usr/bin/nbdinfo --size "nbd+unix:///?socket=$T/sock2" >/dev/null 2>&1 && fail "nbdinfo got past deny=uid"
expect_eq "$(grep -c ' Preconnect ' "$T/ulog2")" 0 "refused unix clients never reached the layer below"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
# gid and allunix.
start_server "$T/sock3" --filter=ip pattern 1M allow=gid:$(id -g),allunix deny=all
expect_eq "$($GREET unix "$T/sock3")" greeting "allow=gid over unix"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null

# dn: with real TLS client certificates: the client's certificate DN (gnutls's form) is allowed,
# the same client without a matching rule is refused (no export), and a foreign DN too.
pki=$T/pki
make_pki "$pki"
dn="O=NBD Test,CN=client.example.com"
tls_try() {  # WANT RULE...: serve with the rules, connect with the client certificate
  local want=$1 got; shift
  P=$(free_port)
  bg "$NBDKIT" -f -i 127.0.0.1 -p "$P" -P "$T/tls$P.pid" --tls=require --tls-certificates="$pki" \
    --tls-verify-peer --filter=ip pattern 1M "$@" 2>"$T/tls$P.log"
  wait_for_file "$T/tls$P.pid"
  if got=$("$NBDINFO" --size "nbds://localhost:$P/?tls-certificates=$pki" 2>/dev/null); then got=ok:$got; else got=refused; fi
  expect_eq "$got" "$want" "TLS client with '$*'"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
}
tls_try ok:1048576 "allow=dn:$dn" deny=all
tls_try refused "allow=dn:O=Other,CN=x" deny=all
tls_try refused "deny=dn:$dn"
tls_try ok:1048576 "deny=dn:O=Other,CN=x"

# Negative: bad entries are one line naming the parameter, exit 1.
for bad in 300.1.1.1 10.0.0.0/33 uid:abc bogus ::1/129 ,,; do
  expect_fail_line 1 "allow=" "$NBDKIT" -U - --filter=ip null 1M "allow=$bad" --run true
done
expect_fail_line 1 "deny=pid:x" "$NBDKIT" -U - --filter=ip null 1M "deny=pid:x" --run true
pass
