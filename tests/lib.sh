# SPDX-License-Identifier: BSD-3-Clause
# Shared helpers for shell tests. Source it first; it makes a private temp dir $T, kills every
# child started with `bg` on exit, and defines our binaries ($NBDKIT ...) and Debian's reference
# tools used as peers ($REF_NBDINFO ...). Exit 77 = skipped (ctest shows it as skipped).
set -uo pipefail

NBD_BIN=${NBD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin}
NBD_SRC=${NBD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NBDKIT=$NBD_BIN/nbdkit
NBDINFO=$NBD_BIN/nbdinfo
NBDCOPY=$NBD_BIN/nbdcopy
NBDDUMP=$NBD_BIN/nbddump
# Our nbdsh (bindings/python); plugin and filter tests run with our module nbd on PYTHONPATH.
NBDSH=$NBD_BIN/nbdsh
REF_NBDKIT=/usr/bin/nbdkit
REF_NBDINFO=/usr/bin/nbdinfo
REF_NBDCOPY=/usr/bin/nbdcopy
REF_NBDDUMP=/usr/bin/nbddump
REF_NBDSH="/usr/bin/python3 -m nbd"
export LIBNBD_DEBUG=${LIBNBD_DEBUG:-0}

T=$(mktemp -d /tmp/nbdtest.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "PASS: ${0##*/}"; exit 0; }

# require_bin NAME...: our binary must have been built (missing = a build problem = fail).
require_bin() { local b; for b in "$@"; do [ -x "$NBD_BIN/$b" ] || fail "build/bin/$b was not built"; done; }
# require_peer NAME...: a reference tool; install-deps.sh installs them, so missing = fail.
require_peer() {
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || fail "peer '$b' is not installed (scripts/install-deps.sh)"
  done
}

expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; }
expect_contains() { [[ "$1" == *"$2"* ]] || fail "$3: expected to contain '$2', got '$1'"; }

# expect_fail_line STATUS SUBSTRING CMD...: CMD must exit with STATUS and print exactly one
# line on stderr containing SUBSTRING.
expect_fail_line() {
  local want=$1 sub=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want (stderr: $err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one error line: $err"
  [[ "$err" == *"$sub"* ]] || fail "'$*' error does not mention '$sub': $err"
}

# bg CMD...: start in the background and remember the pid for cleanup.
bg() { "$@" & PIDS+=($!); }

# wait_for_file PATH [SECONDS]: poll until PATH exists.
wait_for_file() {
  local i n=$(( ${2:-10} * 20 ))
  for ((i = 0; i < n; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  fail "timed out waiting for $1"
}

# free_port: a free TCP port on 127.0.0.1.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server SOCK ARGS...: our nbdkit on a Unix socket in the foreground of a background job;
# returns once it is listening (its -P pidfile appears).
start_server() {
  local sock=$1; shift
  rm -f "$sock" "$sock.pid"
  bg "$NBDKIT" -f -U "$sock" -P "$sock.pid" "$@"
  wait_for_file "$sock.pid"
}

# make_pki DIR: test certificates made with certtool, as ../shared/RECIPES.md section 4:
# DIR/{ca-cert,server-cert,server-key,client-cert,client-key}.pem (server: localhost, 127.0.0.1,
# ::1). For the negative cases, each a directory a client can use: DIR/otherca (a second CA,
# which trusts nothing the server has), DIR/foreign (trusts our CA, presents a client
# certificate of the second CA), DIR/expired (a client certificate of our CA that expired in
# 2020), DIR/caonly (our CA, no client certificate).
make_pki() {
  local d=$1
  mkdir -p "$d/otherca" "$d/foreign" "$d/expired" "$d/caonly"
  (
    cd "$d" || exit 1
    _pki_key() { certtool --generate-privkey > "$1" 2>/dev/null && chmod 600 "$1"; }
    _pki_cert() {  # KEY TEMPLATE OUT CA-CERT CA-KEY
      certtool --generate-certificate --load-ca-certificate "$4" --load-ca-privkey "$5" \
        --load-privkey "$1" --template "$2" --outfile "$3" 2>/dev/null
    }
    printf 'cn = NBD Test CA\nca\ncert_signing_key\nexpiration_days = 3650\n' > ca.info
    printf 'organization = NBD Test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\nip_address = ::1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 3650\n' > server.info
    printf 'organization = NBD Test\ncn = client.example.com\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 3650\n' > client.info
    printf 'organization = NBD Test\ncn = old.example.com\ntls_www_client\nencryption_key\nsigning_key\nactivation_date = "2019-01-01 00:00:00"\nexpiration_date = "2020-01-01 00:00:00"\n' > expired.info
    _pki_key ca-key.pem && certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info \
      --outfile ca-cert.pem 2>/dev/null || exit 1
    _pki_key server-key.pem && _pki_cert server-key.pem server.info server-cert.pem ca-cert.pem ca-key.pem || exit 1
    _pki_key client-key.pem && _pki_cert client-key.pem client.info client-cert.pem ca-cert.pem ca-key.pem || exit 1
    cp ca-cert.pem caonly/ && cp ca-cert.pem expired/ && cp ca-cert.pem foreign/ || exit 1
    _pki_key expired/client-key.pem &&
      _pki_cert expired/client-key.pem expired.info expired/client-cert.pem ca-cert.pem ca-key.pem || exit 1
    _pki_key otherca/ca-key.pem && certtool --generate-self-signed --load-privkey otherca/ca-key.pem \
      --template ca.info --outfile otherca/ca-cert.pem 2>/dev/null || exit 1
    _pki_key foreign/client-key.pem && _pki_cert foreign/client-key.pem client.info foreign/client-cert.pem \
      otherca/ca-cert.pem otherca/ca-key.pem
  ) || fail "make_pki: certtool could not make the test certificates"
}

# start_nginx DIR PORT TLS_PORT CERT KEY: a real nginx (../shared/RECIPES.md section 1a) serving
# DIR/www on 127.0.0.1:PORT (HTTP) and TLS_PORT (HTTPS with CERT/KEY). /private/ needs basic
# auth user:secret, /slow/ is rate-limited to 64 KiB/s, /nohead/ answers HEAD with 405, /redir
# redirects to /disk.img, /redir-chain redirects twice, /noranges/ proxies / without
# Accept-Ranges and Content-Length (chunked replies: the size must come from Content-Range).
# The access log shows the method, path, status, X-NBD-Test header, cookie and user agent of
# each request. Returns once it is listening; its log is DIR/nginx-error.log.
start_nginx() {
  local d=$1 p=$2 tp=$3 cert=$4 key=$5
  mkdir -p "$d/www" "$d/nginx-tmp"
  printf 'user:%s\n' "$(openssl passwd -apr1 secret)" > "$d/htpasswd"
  cat > "$d/nginx.conf" <<NGINX
daemon off;
user root;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/nginx-error.log;
events { worker_connections 256; }
http {
  log_format nbd '\$request_method \$uri \$status x=\$http_x_nbd_test cookie=\$http_cookie ua=\$http_user_agent';
  access_log $d/nginx-access.log nbd;
  client_body_temp_path $d/nginx-tmp/body;
  proxy_temp_path $d/nginx-tmp/proxy;
  fastcgi_temp_path $d/nginx-tmp/fastcgi;
  uwsgi_temp_path $d/nginx-tmp/uwsgi;
  scgi_temp_path $d/nginx-tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:$p;
    listen 127.0.0.1:$tp ssl;
    ssl_certificate $cert;
    ssl_certificate_key $key;
    root $d/www;
    location /private/ { auth_basic "nbd"; auth_basic_user_file $d/htpasswd; alias $d/www/; }
    location /slow/ { limit_rate 64k; alias $d/www/; }
    location /nohead/ { if (\$request_method = HEAD) { return 405; } alias $d/www/; }
    location = /redir { return 302 /disk.img; }
    location = /redir-chain { return 301 /redir; }
    location /noranges/ {
      proxy_pass http://127.0.0.1:$p/;
      proxy_hide_header Accept-Ranges;
      proxy_hide_header Content-Length;
    }
  }
}
NGINX
  rm -f "$d/nginx.pid"
  bg nginx -e "$d/nginx-error.log" -p "$d" -c "$d/nginx.conf"
  wait_for_file "$d/nginx.pid"
}

# start_sshd DIR PORT: a real sshd (../shared/RECIPES.md section 2) on 127.0.0.1:PORT with its
# own host key, key-only root login and internal-sftp. Leaves DIR/id_ed25519 (a client key it
# accepts), DIR/known_hosts (its host key, as ssh-keyscan saw it) and DIR/sshd.log.
start_sshd() {
  local d=$1 p=$2
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey_ed25519" <<< y >/dev/null 2>&1
  ssh-keygen -q -t ed25519 -N '' -f "$d/id_ed25519" <<< y >/dev/null 2>&1
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  cat > "$d/sshd_config" <<SSHD
Port $p
ListenAddress 127.0.0.1
HostKey $d/hostkey_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
SSHD
  rm -f "$d/sshd.pid"
  bg /usr/sbin/sshd -D -e -f "$d/sshd_config" 2> "$d/sshd.log"
  wait_for_file "$d/sshd.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    ssh-keyscan -p "$p" 127.0.0.1 > "$d/known_hosts" 2>/dev/null && [ -s "$d/known_hosts" ] && return 0
    sleep 0.05
  done
  fail "start_sshd: ssh-keyscan got no host key from 127.0.0.1:$p"
}
