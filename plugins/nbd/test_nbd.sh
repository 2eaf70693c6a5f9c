#!/usr/bin/env bash
# nbd plugin: our nbdkit forwarding to another server: our own nbdkit, Debian's nbdkit and
# qemu-nbd as backends. Content through the proxy (reads and writes, checked at the backend),
# block status, capabilities, export names, shared mode, command=, retry=, TLS to a backend
# that requires it, and the failures: no backend, a backend that dies mid-copy, bad parameters.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit qemu-nbd qemu-img

# Writes through the proxy land in the backend, reads come back from it.
start_server "$T/mem.sock" memory 16M
head -c 4M /dev/urandom > "$T/r4"
"$NBDKIT" -U - nbd socket="$T/mem.sock" --run "$NBDCOPY $T/r4 \"\$uri\"" || fail "write through the proxy"
"$NBDCOPY" "nbd+unix:///?socket=$T/mem.sock" "$T/back.img" && cmp -n 4194304 "$T/back.img" "$T/r4" ||
  fail "backend holds other bytes"
# The magic key: a URI alone; read back through the proxy.
"$NBDKIT" -U - nbd "nbd+unix:///?socket=$T/mem.sock" --run "$NBDCOPY \"\$uri\" $T/via.img" &&
  cmp -n 4194304 "$T/via.img" "$T/r4" || fail "read through the proxy (uri=)"

# Block status and capabilities pass through: the same map and flags as the backend's.
start_server "$T/data.sock" data "1 @1048576 2 @4194304 3" size=8M
direct=$("$NBDINFO" --map "nbd+unix:///?socket=$T/data.sock")
proxied=$("$NBDKIT" -U - nbd socket="$T/data.sock" --run "$NBDINFO --map \"\$uri\"")
expect_eq "$proxied" "$direct" "map through the proxy"
caps() { grep -E 'can_|is_read_only|export-size' | sort; }
direct=$("$NBDINFO" "nbd+unix:///?socket=$T/mem.sock" | caps)
proxied=$("$NBDKIT" -U - nbd socket="$T/mem.sock" --run "$NBDINFO \"\$uri\"" | caps)
expect_eq "$proxied" "$direct" "capabilities through the proxy"
# A read-only backend makes a read-only proxy.
start_server "$T/ro.sock" -r memory 1M
out=$("$NBDKIT" -U - nbd socket="$T/ro.sock" --run "$NBDINFO \"\$uri\"" | grep is_read_only)
expect_contains "$out" "true" "read-only backend"

# Debian's nbdkit over TCP, an export by name from qemu-nbd, and qemu-img over the proxy.
port=$(free_port)
bg "$REF_NBDKIT" -f -i 127.0.0.1 -p "$port" -P "$T/ref.pid" pattern 8M
wait_for_file "$T/ref.pid"
"$NBDKIT" -U - nbd hostname=127.0.0.1 port="$port" --run "$NBDCOPY \"\$uri\" $T/pat.img" || fail "TCP backend"
"$REF_NBDKIT" -U - pattern 8M --run "$NBDCOPY \"\$uri\" $T/pat-ref.img"
cmp "$T/pat.img" "$T/pat-ref.img" || fail "pattern through the proxy differs"
head -c 3M /dev/urandom > "$T/q.raw"
bg qemu-nbd -f raw -x disk1 -k "$T/q.sock" --pid-file="$T/q.pid" "$T/q.raw"
wait_for_file "$T/q.pid"
"$NBDKIT" -U - nbd socket="$T/q.sock" export=disk1 --run "qemu-img compare -f raw $T/q.raw \"\$uri\"" ||
  fail "qemu-nbd export through the proxy"

# command= with arg=: a qemu-nbd started by socket activation (shared by implication).
head -c 2M /dev/urandom > "$T/c.raw"
"$NBDKIT" -U - nbd command=qemu-nbd arg=-f arg=raw arg="$T/c.raw" --run "$NBDCOPY \"\$uri\" -" | cmp - "$T/c.raw" ||
  fail "command= backend"

# dynamic-export=true hands each client's export name to the backend (Debian's info plugin
# serves the name it was asked for).
start_ref() { rm -f "$1" "$1.pid"; bg "$REF_NBDKIT" -f -U "$1" -P "$1.pid" "${@:2}"; wait_for_file "$1.pid"; }
start_ref "$T/info.sock" info mode=exportname
start_server "$T/dyn.sock" nbd socket="$T/info.sock" dynamic-export=true
"$NBDCOPY" "nbd+unix:///hello-there?socket=$T/dyn.sock" "$T/dyn.img" || fail "dynamic export copy"
got=$(head -c 11 "$T/dyn.img")
expect_eq "$got" "hello-there" "dynamic export name"
got=$("$NBDKIT" -U - nbd socket="$T/info.sock" --run "$NBDINFO --size \"\$uri\"")
expect_eq "$got" "0" "without dynamic-export the backend sees the default (empty) export"

# With dynamic-export=true the export list is the backend's (Debian's file plugin, dir=).
mkdir -p "$T/dir" && head -c 1M /dev/zero > "$T/dir/a" && head -c 2M /dev/zero > "$T/dir/b"
start_ref "$T/dir.sock" file dir="$T/dir"
list=$("$NBDKIT" -U - nbd socket="$T/dir.sock" dynamic-export=true --run "$NBDINFO --list \"\$uri\"" |
  grep '^export=' | sort | tr '\n' ' ')
expect_eq "$list" 'export="a": export="b": ' "export list through dynamic-export"
size=$("$NBDKIT" -U - nbd socket="$T/dir.sock" dynamic-export=true --run \
  "$NBDINFO --size \"nbd+unix:///b?socket=\$unixsocket\"")
expect_eq "$size" 2097152 "export b through dynamic-export"

# shared=true: two clients over one backend connection see each other's writes at once.
start_server "$T/shared.sock" nbd socket="$T/mem.sock" shared=true
head -c 1M /dev/urandom > "$T/r1"
"$NBDCOPY" "$T/r1" "nbd+unix:///?socket=$T/shared.sock" || fail "write through shared"
"$NBDCOPY" "nbd+unix:///?socket=$T/shared.sock" "$T/sh.img" && cmp -n 1048576 "$T/sh.img" "$T/r1" ||
  fail "shared read back"

# retry=: a backend that appears a second after the proxy starts.
rm -f "$T/late.sock"
( sleep 1.5; exec "$NBDKIT" -f -U "$T/late.sock" pattern 1M ) & PIDS+=($!)
sum=$("$NBDKIT" -U - nbd socket="$T/late.sock" shared=true retry=5 --run "$NBDCOPY \"\$uri\" - | md5sum") ||
  fail "retry= did not wait for the backend"
expect_eq "$sum" "$("$NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" - | md5sum")" "retry= content"

# TLS to a backend that requires it, with certificates made here.
make_pki "$T/pki"
start_server "$T/tls.sock" --tls=require --tls-certificates="$T/pki" pattern 1M
sum=$("$NBDKIT" -U - nbd socket="$T/tls.sock" tls=require tls-certificates="$T/pki" --run "$NBDCOPY \"\$uri\" - | md5sum") ||
  fail "TLS backend"
expect_eq "$sum" "$("$NBDKIT" -U - pattern 1M --run "$NBDCOPY \"\$uri\" - | md5sum")" "TLS backend content"
if "$NBDKIT" -U - nbd socket="$T/tls.sock" --run "$NBDINFO \"\$uri\"" >/dev/null 2>&1; then
  fail "a plain connection to a TLS-only backend worked"
fi

# Negative: no backend listening fails the client's connection at once, with the reason.
start=$(date +%s)
if "$NBDKIT" -U - nbd socket="$T/nothing.sock" --run "$NBDINFO \"\$uri\"" >/dev/null 2>"$T/err"; then
  fail "a missing backend socket worked"
fi
expect_contains "$(cat "$T/err")" "No such file or directory" "missing backend message"
[ $(( $(date +%s) - start )) -le 10 ] || fail "a missing backend took more than 10 s"
# A backend that dies mid-copy: the copy fails, nothing hangs.
start_server "$T/slow.sock" --filter=delay pattern 16G rdelay=100ms
( sleep 1; kill "$(cat "$T/slow.sock.pid")" ) & PIDS+=($!)
if timeout 30 "$NBDKIT" -U - nbd socket="$T/slow.sock" --run "$NBDCOPY \"\$uri\" null:" 2>"$T/err"; then
  fail "a copy from a killed backend succeeded"
fi
[ $? != 124 ] || fail "a copy from a killed backend hung"
# A backend that stops answering (SIGSTOP: the connection stays up, no reply comes): the request
# fails (EIO on the wire, the NBD error for ETIMEDOUT) after timeout=, the next one at once, and the client is not kept waiting.
start_server "$T/stuck.sock" memory 1M
start_server "$T/via.sock" nbd socket="$T/stuck.sock" timeout=2 shared=true
start_server "$T/via2.sock" nbd socket="$T/stuck.sock" timeout=2
printf 'before the stop' | "$NBDCOPY" - "nbd+unix://?socket=$T/via.sock" 2>/dev/null || true
expect_eq "$("$NBDDUMP" --length=15 "nbd+unix://?socket=$T/via.sock" | head -1 | cut -c 12-58 | tr -d ' ')" \
  "6265666f7265207468652073746f70" "timeout=: the proxy works before the backend stops"
kill -STOP "$(cat "$T/stuck.sock.pid")"
start=$(date +%s)
out=$(timeout 30 $NBDSH -u "nbd+unix://?socket=$T/via.sock" -c '
for i in range(2):
    try:
        h.pread(512, 0)
        print("read worked")
    except nbd.Error as e:
        print("error", e.errno)
' 2>&1)
took=$(( $(date +%s) - start ))
# A new client: its backend connection's handshake gets no answer either.
start2=$(date +%s)
timeout 30 "$NBDINFO" --size "nbd+unix://?socket=$T/via2.sock" > /dev/null 2>&1 && fail "timeout=: a handshake with a stopped backend succeeded"
took2=$(( $(date +%s) - start2 ))
kill -CONT "$(cat "$T/stuck.sock.pid")"
expect_eq "$out" $'error EIO\nerror EIO' "timeout=: both reads from a stopped backend"
[ "$took" -le 8 ] || fail "timeout=2: the reads took $took s"
[ "$took2" -le 8 ] || fail "timeout=2: the handshake took $took2 s"
expect_eq "$("$NBDINFO" --size "nbd+unix://?socket=$T/via2.sock")" 1048576 "timeout=: a new client once the backend answers again"
# Bad parameters: one line each, exit 1.
expect_fail_line 1 "tls=maybe: expected off, on or require" "$NBDKIT" -U - nbd socket=/x tls=maybe --run true
expect_fail_line 1 "give exactly one of socket=" "$NBDKIT" -U - nbd export=x --run true
expect_fail_line 1 "give only one of socket=" "$NBDKIT" -U - nbd socket=/x hostname=h --run true
expect_fail_line 1 "export= cannot go with uri=" "$NBDKIT" -U - nbd nbd://h/x export=y --run true
expect_fail_line 1 "arg= needs command=" "$NBDKIT" -U - nbd socket=/x arg=1 --run true
expect_fail_line 1 "dynamic-export=true cannot go with shared mode" "$NBDKIT" -U - nbd socket=/x shared=true dynamic-export=true --run true
expect_fail_line 1 "retry" "$NBDKIT" -U - nbd socket=/x retry=many --run true
expect_fail_line 1 "timeout=0" "$NBDKIT" -U - nbd socket=/x timeout=0 --run true
pass
