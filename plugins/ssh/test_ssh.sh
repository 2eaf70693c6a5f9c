#!/usr/bin/env bash
# ssh plugin: our nbdkit in front of a real sshd started on a spare port with its own host key
# (RECIPES.md 2). Reads (whole and at odd offsets), writes checked in the remote file, flush,
# create=, the same bytes as Debian's ssh plugin; and the failures: an unknown host, a changed
# host key, a key the server does not accept, a missing file, no server, a server that never
# speaks (timeout=), bad parameters.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer ssh-keygen ssh-keyscan sshd nbdkit

export HOME=$T/home  # no ~/.ssh of the machine's: keys and known hosts come from the test
mkdir -p "$HOME"
P=$(free_port)
start_sshd "$T" "$P"
head -c 8M /dev/urandom > "$T/disk.img"
sum() { md5sum | cut -d' ' -f1; }
want=$(sum < "$T/disk.img")
S=(ssh host=127.0.0.1 port="$P" user=root identity="$T/id_ed25519" known-hosts="$T/known_hosts" config=)

# Reads: the whole file, its size, and an unaligned window.
got=$("$NBDKIT" -U - "${S[@]}" path="$T/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "read over SFTP"
size=$("$NBDKIT" -U - "${S[@]}" "$T/disk.img" --run "$NBDINFO --size \"\$uri\"")
expect_eq "$size" "8388608" "size (path as the magic key)"
dd if="$T/disk.img" bs=1 skip=1000001 count=777777 status=none | sum > "$T/win.want"
got=$("$NBDKIT" -U - --filter=offset "${S[@]}" path="$T/disk.img" offset=1000001 range=777777 \
  --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$(cat "$T/win.want")" "unaligned window"
# Debian's ssh plugin reads the same bytes.
ref=$("$REF_NBDKIT" -U - "${S[@]}" path="$T/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$ref" "$want" "Debian's ssh plugin"
# ... and so does Debian's ssh plugin .so loaded into our nbdkit (the C ABI).
so=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-ssh-plugin.so
got=$("$NBDKIT" -U - "$so" "${S[@]:1}" path="$T/disk.img" --run "$NBDCOPY \"\$uri\" -" | sum)
expect_eq "$got" "$want" "Debian's ssh .so in our nbdkit"

# Writes land in the remote file at the right place; flush is there (fsync@openssh.com).
head -c 3M /dev/urandom > "$T/w3"
cp "$T/disk.img" "$T/orig.img"
"$NBDKIT" -U - --filter=offset "${S[@]}" path="$T/disk.img" offset=1234567 range=3145728 \
  --run "$NBDCOPY $T/w3 \"\$uri\"" || fail "writes over SFTP"
cmp -s -i 1234567:0 -n 3145728 "$T/disk.img" "$T/w3" || fail "written bytes are not in the remote file"
{ head -c 1234567 "$T/orig.img"; cat "$T/w3"; tail -c +$((1234567 + 3145728 + 1)) "$T/orig.img"; } | sum > "$T/w.want"
expect_eq "$(sum < "$T/disk.img")" "$(cat "$T/w.want")" "the rest of the remote file is untouched"
info=$("$NBDKIT" -U - "${S[@]}" path="$T/disk.img" --run "$NBDINFO \"\$uri\"")
expect_contains "$info" "can_flush: true" "flush over SFTP"
ro=$("$NBDKIT" -r -U - "${S[@]}" path="$T/disk.img" --run "$NBDINFO \"\$uri\"" | grep is_read_only)
expect_contains "$ro" "true" "-r"

# Sequential reads make the plugin ask for the next stretch ahead of time; a write into that
# stretch must still be what the next read sees.
cat > "$T/rw.py" <<'PY'
a = h.pread(65536, 0) + h.pread(65536, 65536)      # the second is sequential: 128K-192K is fetched ahead
h.pwrite(b"x" * 65536, 131072)
assert h.pread(65536, 131072) == b"x" * 65536, "a read after a write returned the old bytes"
h.pread(65536, 196608); h.pread(65536, 262144)     # ahead again, then a jump elsewhere
assert h.pread(4096, 7 << 20) == open("DISK", "rb").read()[7 << 20:(7 << 20) + 4096]
print("ok")
PY
sed -i "s|DISK|$T/disk.img|" "$T/rw.py"
out=$("$NBDKIT" -U - "${S[@]}" path="$T/disk.img" --run "$NBDSH -u \"\$uri\" -c \"exec(open('$T/rw.py').read())\"" 2>&1)
expect_eq "$out" "ok" "reads ahead and writes"
expect_eq "$(head -c 131072 "$T/disk.img" | sum)" "$(head -c 131072 "$T/orig.img" | sum)" "bytes before the write"
expect_eq "$(tail -c +131073 "$T/disk.img" | head -c 65536 | sum)" "$(head -c 65536 /dev/zero | tr '\0' x | sum)" "the write"
cp "$T/disk.img" "$T/orig.img"

# create=: the file is made (or replaced) with the size and mode asked for.
printf 'old' > "$T/new.img"
size=$("$NBDKIT" -U - "${S[@]}" path="$T/new.img" create=true create-size=3M create-mode=0640 \
  --run "$NBDINFO --size \"\$uri\"")
expect_eq "$size" "3145728" "create-size="
expect_eq "$(stat -c '%s %a' "$T/new.img")" "3145728 640" "created file"
expect_eq "$(head -c 3 "$T/new.img" | od -An -tx1 | tr -d ' ')" "000000" "created file replaces the old one"

# The host key: unknown (no known-hosts), changed (another key under the same name), or not
# checked at all (verify-remote-host=false).
N=(ssh host=127.0.0.1 port="$P" user=root identity="$T/id_ed25519" config= path="$T/disk.img")
expect_fail_line 1 "is unknown" "$NBDKIT" -U - "${N[@]}" --run true
ssh-keygen -q -t ed25519 -N '' -f "$T/other" <<< y >/dev/null 2>&1
printf '[127.0.0.1]:%s %s\n' "$P" "$(cut -d' ' -f1,2 "$T/other.pub")" > "$T/known_hosts.bad"
expect_fail_line 1 "has changed" "$NBDKIT" -U - "${N[@]}" known-hosts="$T/known_hosts.bad" --run true
got=$("$NBDKIT" -U - "${N[@]}" verify-remote-host=false --run "$NBDINFO --size \"\$uri\"")
expect_eq "$got" "8388608" "verify-remote-host=false"

# A key the server does not accept; a password where the server takes none; a missing file.
expect_fail_line 1 "logging in to 127.0.0.1 failed" "$NBDKIT" -U - ssh host=127.0.0.1 port="$P" user=root \
  identity="$T/other" known-hosts="$T/known_hosts" config= path="$T/disk.img" --run true
expect_fail_line 1 "logging in" "$NBDKIT" -U - ssh host=127.0.0.1 port="$P" user=root password=secret \
  known-hosts="$T/known_hosts" config= path="$T/disk.img" --run true
expect_fail_line 1 "opening $T/nope.img" "$NBDKIT" -U - "${S[@]}" path="$T/nope.img" --run true

# No server, and a server that accepts the connection but never speaks: timeout= ends the wait.
dead=$(free_port)
expect_fail_line 1 "connecting to 127.0.0.1" "$NBDKIT" -U - ssh host=127.0.0.1 port="$dead" config= path=x --run true
SP=$(free_port)
# It listens and never accepts: the kernel completes the TCP handshake, and nothing is ever sent.
bg /usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(60)' "$SP" >/dev/null 2>&1
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SP") 2>/dev/null && break; sleep 0.05; done
start=$(date +%s)
expect_fail_line 1 "connecting to 127.0.0.1" "$NBDKIT" -U - ssh host=127.0.0.1 port="$SP" config= path=x timeout=1 --run true
(($(date +%s) - start < 10)) || fail "timeout=1 against a silent server took $(($(date +%s) - start)) s"

# A server that stops answering mid-session (its session processes stopped with SIGSTOP): the
# request fails once timeout= has passed, and later ones fail at once; nothing hangs.
start_server "$T/s.sock" "${S[@]}" path="$T/disk.img" timeout=2
master=$(cat "$T/sshd.pid")
cat > "$T/stall.py" <<PY
import subprocess, time
h.pread(65536, 0)
subprocess.run(["sh", "-c", "for p in \$(pgrep -P $master); do kill -STOP \$p \$(pgrep -P \$p); done"], check=True)
for what in ("first", "second"):
    t = time.time()
    try:
        h.pread(65536, 1 << 20)
        raise SystemExit(what + " read from a stopped server succeeded")
    except nbd.Error as e:
        s = time.time() - t
        # The first waits out timeout=2 (a loaded machine may add a little); the second fails at once.
        print(what, "failed", "in time" if (2 <= s < 8 if what == "first" else s < 1) else "after %.1f s" % s,
              e.errno)
PY
out=$($NBDSH -u "nbd+unix:///?socket=$T/s.sock" -c "exec(open('$T/stall.py').read())" 2>&1)
for p in $(pgrep -P "$master"); do kill -CONT "$p" $(pgrep -P "$p"); done
expect_contains "$out" "first failed in time EIO" "a stalled server"  # NBD has no ETIMEDOUT
expect_contains "$out" "second failed in time EIO" "after a stall"

# Bad parameters: one line, exit 1.
expect_fail_line 1 "host= is required" "$NBDKIT" ssh path=x
expect_fail_line 1 "path= is required" "$NBDKIT" ssh host=localhost
expect_fail_line 1 "create=true needs create-size=" "$NBDKIT" ssh host=localhost path=x create=true
expect_fail_line 1 "create-mode=99999" "$NBDKIT" ssh host=localhost path=x create=true create-size=1M create-mode=99999
expect_fail_line 1 "timeout=0" "$NBDKIT" ssh host=localhost path=x timeout=0
expect_fail_line 1 "nosuchkey" "$NBDKIT" ssh host=localhost path=x nosuchkey=1
pass
