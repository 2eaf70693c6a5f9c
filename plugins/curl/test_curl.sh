#!/usr/bin/env bash
# curl plugin: our nbdkit in front of a real nginx on loopback (RECIPES.md 1a). Content over
# HTTP and HTTPS (byte-compared, at odd offsets too), basic auth, redirects, headers, cookies and
# their scripts, a chunked server without Accept-Ranges, the same bytes as Debian's curl plugin;
# and the failures: a 404, a wrong password, an untrusted certificate, a server that ignores
# Range (python3 -m http.server), a slow server past timeout=, no server, PUTs refused by nginx
# and taken by Apache's mod_dav, bad parameters.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nginx apache2 openssl certtool nbdkit

make_pki "$T/pki"
P=$(free_port) TP=$(free_port)
start_nginx "$T" "$P" "$TP" "$T/pki/server-cert.pem" "$T/pki/server-key.pem"
head -c 10M /dev/urandom > "$T/www/disk.img"
printf 'not a disk\n' > "$T/www/small.txt"
U=http://127.0.0.1:$P
sum() { md5sum | cut -d' ' -f1; }
want=$(sum < "$T/www/disk.img")

# The whole disk over HTTP, and its size.
got=$("$NBDKIT" -U - curl "$U/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "HTTP copy"
size=$("$NBDKIT" -U - curl url="$U/disk.img" --run "$NBDINFO --size \"\$uri\"")
expect_eq "$size" "10485760" "size from HEAD"
# Odd offsets and lengths: a window of the disk through the offset filter.
dd if="$T/www/disk.img" bs=1 skip=1000001 count=777777 status=none | sum > "$T/win.want"
got=$("$NBDKIT" -U - --filter=offset curl "$U/disk.img" offset=1000001 range=777777 --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$(cat "$T/win.want")" "unaligned window"
# connections=1 serializes every request on one handle: still the same bytes.
got=$("$NBDKIT" -U - curl "$U/disk.img" connections=1 --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "connections=1"
# A tiny file: the length is not a multiple of anything.
got=$("$NBDKIT" -U - curl "$U/small.txt" --run "$NBDCOPY \"\$uri\" -")
expect_eq "$got" "not a disk" "11-byte resource"

# The blog's stack: a disk inside a tar inside an xz, all over HTTP.
head -c 3M "$T/www/disk.img" > "$T/d3.img"
(cd "$T" && tar cf - d3.img) | xz -T1 --block-size=1MiB > "$T/www/d3.tar.xz"
got=$("$NBDKIT" -U - curl "$U/d3.tar.xz" --filter=tar --filter=xz tar-entry=d3.img --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$(sum < "$T/d3.img")" "tar.xz over HTTP"

# Debian's curl plugin serves the same bytes; Debian's nbdinfo reads ours.
if "$REF_NBDKIT" curl --version >/dev/null 2>&1; then
  ref=$("$REF_NBDKIT" -U - curl "$U/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
  expect_eq "$ref" "$want" "Debian's curl plugin"
else
  fail "Debian's nbdkit has no curl plugin (install nbdkit from scripts/install-deps.sh)"
fi
so=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-curl-plugin.so
got=$("$NBDKIT" -U - "$so" "$U/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "Debian's curl .so in our nbdkit"
size=$("$NBDKIT" -U - curl "$U/disk.img" --run "$NBDINFO --size \"\$uri\"")
expect_eq "$size" "10485760" "Debian's nbdinfo on our curl plugin"

# HTTPS verified with the test's CA; without it the certificate is refused at start.
got=$("$NBDKIT" -U - curl "https://localhost:$TP/disk.img" cainfo="$T/pki/ca-cert.pem" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "HTTPS with cainfo="
got=$("$NBDKIT" -U - curl "https://127.0.0.1:$TP/disk.img" sslverify=false --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "HTTPS with sslverify=false"
expect_fail_line 1 "certificate" "$NBDKIT" -U - curl "https://localhost:$TP/disk.img" \
  cainfo="$T/pki/otherca/ca-cert.pem" --run true

# Basic auth: the password on the command line and from a file; a wrong one stops nbdkit.
got=$("$NBDKIT" -U - curl "$U/private/disk.img" user=user password=secret --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "basic auth"
printf 'secret\n' > "$T/pw"
got=$("$NBDKIT" -U - curl "$U/private/disk.img" user=user password=+"$T/pw" --run "$NBDINFO --size \"\$uri\"")
expect_eq "$got" "10485760" "password=+FILE"
expect_fail_line 1 "HTTP 401" "$NBDKIT" -U - curl "$U/private/disk.img" user=user password=wrong --run true
expect_fail_line 1 "HTTP 401" "$NBDKIT" -U - curl "$U/private/disk.img" --run true

# Redirects are followed by default (301 then 302), and refused with followlocation=false.
got=$("$NBDKIT" -U - curl "$U/redir-chain" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "redirects followed"
expect_fail_line 1 "HTTP 301" "$NBDKIT" -U - curl "$U/redir-chain" followlocation=false --run true

# No Accept-Ranges and no Content-Length (chunked, through nginx's proxy): the size comes from
# the Content-Range of a one-byte GET, and ranges still work.
got=$("$NBDKIT" -U - curl "$U/noranges/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "server without Accept-Ranges and Content-Length"

# A server that refuses HEAD (405) but serves GET: the size comes from the one-byte GET.
got=$("$NBDKIT" -U - curl "$U/nohead/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "a server that refuses HEAD"
grep -q "HEAD /nohead/disk.img 405" "$T/nginx-access.log" || fail "the HEAD was not refused: the check tests nothing"

# header=, cookie=, user-agent= reach the server; so do the scripts' output, re-run on renewal.
: > "$T/nginx-access.log"
"$NBDKIT" -U - curl "$U/small.txt" header='X-NBD-Test: static' cookie='a=1; b=2' user-agent=nbdtest/1 \
  --run "$NBDINFO --size \"\$uri\"" > /dev/null || fail "header= cookie= user-agent="
log=$(grep ' x=static ' "$T/nginx-access.log" | head -1)
expect_contains "$log" "cookie=a=1; b=2 ua=nbdtest/1" "static header and cookie"
: > "$T/nginx-access.log"
"$NBDKIT" -U - curl "$U/disk.img" header-script='echo "X-NBD-Test: it$iteration"' header-script-renew=1 \
  cookie-script='echo "token=$iteration"' \
  --run "$NBDCOPY \"\$uri\" null: && sleep 1.2 && $NBDCOPY \"\$uri\" null:" || fail "scripts"
grep -q ' x=it0 cookie=token=0 ' "$T/nginx-access.log" || fail "header-script's first output not sent"
grep -q ' x=it1 cookie=token=0 ' "$T/nginx-access.log" || fail "header-script not re-run after its renew time"
expect_fail_line 1 "header-script exited with status 3" "$NBDKIT" -U - curl "$U/disk.img" \
  header-script='echo oops >&2; exit 3' --run true

# file:// works too, read-only (a PUT there would replace the whole file).
got=$("$NBDKIT" -U - curl "file://$T/www/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "file:// URL"
ro=$("$NBDKIT" -U - curl "file://$T/www/disk.img" --run "$NBDINFO \"\$uri\"" | grep is_read_only)
expect_contains "$ro" "true" "file:// is read-only"

# Failures at start, one line each: a 404, nothing listening, a disallowed scheme.
expect_fail_line 1 "HTTP 404" "$NBDKIT" -U - curl "$U/nope.img" --run true
dead=$(free_port)
expect_fail_line 1 "connect" "$NBDKIT" -U - curl "http://127.0.0.1:$dead/disk.img" --run true
expect_fail_line 1 "protocols" "$NBDKIT" -U - curl "$U/disk.img" protocols=https,nosuch --run true
expect_fail_line 1 "not supported or disabled" "$NBDKIT" -U - curl "$U/disk.img" protocols=https --run true

# A server that ignores Range (python3 -m http.server answers 200 with the whole body).
PP=$(free_port)
(cd "$T/www" && exec /usr/bin/python3 -m http.server "$PP" --bind 127.0.0.1 >/dev/null 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PP/small.txt" && break; sleep 0.05; done
expect_fail_line 1 "does not support 'range'" "$NBDKIT" -U - curl "http://127.0.0.1:$PP/disk.img" --run true

# A slow server: timeout= ends the request with an error the client sees; nothing hangs.
start=$(date +%s)
if "$NBDKIT" -U - curl "$U/slow/disk.img" timeout=1 --run "$NBDCOPY \"\$uri\" null:" 2> "$T/slow.err"; then
  fail "a 10 MiB copy at 64 KiB/s finished within timeout=1"
fi
grep -qi "timed out" "$T/slow.err" || fail "no timeout in the log: $(cat "$T/slow.err")"
(($(date +%s) - start < 20)) || fail "timeout=1 took $(($(date +%s) - start)) s"
got=$("$NBDKIT" -U - --filter=offset curl "$U/slow/disk.img" offset=0 range=16384 --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$(head -c 16384 "$T/www/disk.img" | sum)" "slow server, short read"

# Writes are PUTs with Content-Range: nginx refuses them, so the client gets an error and the
# file is unchanged.
if "$NBDKIT" -U - curl "$U/disk.img" --run "$NBDCOPY $T/pw \"\$uri\"" 2> "$T/put.err"; then
  fail "a write to nginx succeeded"
fi
grep -q "PUT" "$T/put.err" || fail "the failed PUT is not in the log: $(cat "$T/put.err")"
expect_eq "$(sum < "$T/www/disk.img")" "$want" "disk after a refused PUT"

# Apache's mod_dav takes PUT with Content-Range and writes in place: writes through the plugin
# (several at once, at odd offsets) land in the file, and the rest of it is untouched. Its
# children run as www-data, so they get their own world-writable directory.
AP=$(free_port)
mkdir -p "$T/dav/lock" && chmod 711 "$T" && chmod 777 "$T/dav" "$T/dav/lock"
cp "$T/www/disk.img" "$T/dav/disk.img" && chmod 666 "$T/dav/disk.img"
cat > "$T/dav/httpd.conf" <<APACHE
ServerRoot $T/dav
ServerName 127.0.0.1
Listen 127.0.0.1:$AP
PidFile $T/dav/httpd.pid
ErrorLog $T/dav/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dav_module /usr/lib/apache2/modules/mod_dav.so
LoadModule dav_fs_module /usr/lib/apache2/modules/mod_dav_fs.so
User www-data
Group www-data
DavLockDB $T/dav/lock/davlock
DocumentRoot $T/dav
<Directory $T/dav>
  Dav On
  Require all granted
</Directory>
APACHE
bg apache2 -X -f "$T/dav/httpd.conf"
wait_for_file "$T/dav/httpd.pid"
head -c 3M /dev/urandom > "$T/w3"
"$NBDKIT" -U - --filter=offset curl "http://127.0.0.1:$AP/disk.img" offset=1234567 range=3145728 \
  --run "$NBDCOPY $T/w3 \"\$uri\"" || fail "writes to Apache's mod_dav"
{ head -c 1234567 "$T/www/disk.img"; cat "$T/w3"; tail -c +$((1234567 + 3145728 + 1)) "$T/www/disk.img"; } | sum > "$T/w.want"
expect_eq "$(sum < "$T/dav/disk.img")" "$(cat "$T/w.want")" "disk after PUTs"
got=$("$NBDKIT" -U - curl "http://127.0.0.1:$AP/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$(cat "$T/w.want")" "reading back the written disk"
# -r: nothing is ever sent.
if "$NBDKIT" -r -U - curl "http://127.0.0.1:$AP/disk.img" --run "$NBDCOPY $T/pw \"\$uri\"" 2>/dev/null; then
  fail "a write through -r succeeded"
fi
expect_eq "$(sum < "$T/dav/disk.img")" "$(cat "$T/w.want")" "disk after a write through -r"

# Bad parameters: one line, exit 1.
expect_fail_line 1 "url= is required" "$NBDKIT" curl
expect_eq "$("$NBDKIT" curl 2>&1)" "nbdkit: curl: url= is required (the URL of the disk image)" "the error line, named once"
expect_fail_line 1 "connections=0" "$NBDKIT" curl "$U/disk.img" connections=0
expect_fail_line 1 "ssl-version=tlsv9" "$NBDKIT" curl "$U/disk.img" ssl-version=tlsv9
expect_fail_line 1 "timeout" "$NBDKIT" curl "$U/disk.img" timeout=soon
expect_fail_line 1 "cannot go with header=" "$NBDKIT" curl "$U/disk.img" header='A: b' header-script='true'
expect_fail_line 1 "needs cookie-script=" "$NBDKIT" curl "$U/disk.img" cookie-script-renew=5
expect_fail_line 1 "nosuchkey" "$NBDKIT" curl "$U/disk.img" nosuchkey=1
pass
