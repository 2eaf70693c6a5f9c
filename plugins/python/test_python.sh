#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The python plugin: upstream-style scripts (API_VERSION 2 and 1) serve bytes that our nbdcopy,
# nbdinfo and nbdsh read back, errors carry the script's errno, exports, extents, thread
# models, --dump-plugin, nbdkit forked into the background, the same bytes as Debian's python
# plugin for the same script, and bad scripts refused with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo nbdsh

cat >"$T/ram.py" <<'PY'
import errno
import nbdkit

API_VERSION = 2
disk = bytearray(1024 * 1024)
flushed = 0

def config(key, value):
    global disk
    if key != "size":
        raise RuntimeError(f"unknown parameter {key}")
    disk = bytearray(nbdkit.parse_size(value))

def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL

def dump_plugin():
    print("ram_script=yes")

def list_exports(readonly, is_tls):
    return [("main", "the main disk"), "spare"]

def default_export(readonly, is_tls):
    return "main"

def open(readonly):
    nbdkit.debug(f"opened export {nbdkit.export_name()!r} tls={nbdkit.is_tls()}")
    return {"name": nbdkit.export_name()}

def get_size(h):
    return len(disk)

def export_description(h):
    return f"python disk {h['name']}"

def pread(h, buf, offset, flags):
    buf[:] = disk[offset:offset + len(buf)]

def pwrite(h, buf, offset, flags):
    if offset == 8192:
        nbdkit.set_error(errno.ENOSPC)
        raise RuntimeError("the block at 8192 is full")
    if offset == 12288:
        raise ValueError("no errno set")
    disk[offset:offset + len(buf)] = buf

def flush(h, flags):
    global flushed
    flushed += 1

def zero(h, count, offset, flags):
    disk[offset:offset + count] = bytes(count)

def can_extents(h):
    return True

def extents(h, count, offset, flags):
    # 64 KiB blocks: all-zero ones are holes.
    out = []
    start = offset - offset % 65536
    for b in range(start, min(offset + count, len(disk)), 65536):
        z = not any(disk[b:b + 65536])
        out.append((b, 65536, nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO if z else 0))
    return out
PY

head -c 200000 /dev/urandom >"$T/data"
start_server "$T/s.sock" -v python "$T/ram.py" size=4M 2>"$T/s.log"
U="nbd+unix:///?socket=$T/s.sock"
expect_eq "$($NBDINFO --size "$U")" 4194304 "config() and get_size()"
$NBDCOPY "$T/data" "$U" || fail "nbdcopy into the script"
$NBDCOPY "$U" "$T/back" || fail "nbdcopy out of the script"
cmp <(head -c 200000 "$T/back") "$T/data" || fail "bytes read back differ"
expect_eq "$(tail -c +200001 "$T/back" | tr -d '\0' | wc -c)" 0 "the rest is zero"
out=$($NBDINFO "$U")
expect_contains "$out" "description: python disk main" "export_description and default_export"
expect_contains "$out" "can_zero: true" "zero() means can_zero"
expect_contains "$out" "can_trim: false" "no trim()"
expect_contains "$out" "can_fua: true" "flush() gives emulated FUA"
expect_contains "$($NBDINFO --list "$U" | grep -E '^export=|description:' | tr -d '\t' | tr '\n' ' ')" \
  'export="main": description: the main disk export="spare": description: python disk spare ' "list_exports (a list description wins)"
expect_eq "$($NBDINFO --map "$U" | awk '{print $1, $2, $3}' | tr '\n' ' ')" "0 262144 0 262144 3932160 3 " "extents()"
grep -q "opened export 'main' tls=False" "$T/s.log" || fail "nbdkit.debug and nbdkit.export_name in open"
# Errors: set_error's errno reaches the client; without it, EIO.
out=$($NBDSH -u "$U" -c 'h.pwrite(b"x" * 4096, 8192)' 2>&1)
expect_contains "$out" "ENOSPC" "nbdkit.set_error(ENOSPC)"
out=$($NBDSH -u "$U" -c 'h.pwrite(b"x" * 4096, 12288)' 2>&1)
expect_contains "$out" "EIO" "an exception without set_error is EIO"
grep -q "the block at 8192 is full" "$T/s.log" || fail "the exception's message is not in the log"
out=$($NBDSH -u "$U" -c 'h.zero(4096, 0); h.flush(); print(h.pread(8, 0), h.pread(4, 4096) == bytearray(4))')
expect_eq "$out" "bytearray(b'\x00\x00\x00\x00\x00\x00\x00\x00') False" "zero() and flush()"
# --dump-plugin with the script: its thread model and its own lines.
out=$("$NBDKIT" python "$T/ram.py" --dump-plugin)
expect_contains "$out" "thread_model=parallel" "thread_model()"
expect_contains "$out" "ram_script=yes" "the script's dump_plugin()"
expect_contains "$out" "python_version=3" "python_version"
expect_contains "$("$NBDKIT" python --dump-plugin)" "nbdkit_python_maximum_api_version=2" "--dump-plugin alone"

# API_VERSION 1 (the default): pread returns the bytes, no flags; zero gets may_trim.
cat >"$T/v1.py" <<'PY'
disk = bytearray(b"abcdefgh" * 8192)
def open(readonly):
    return 1
def get_size(h):
    return len(disk)
def pread(h, count, offset):
    return disk[offset:offset + count]
def pwrite(h, buf, offset):
    disk[offset:offset + len(buf)] = buf
def zero(h, count, offset, may_trim):
    disk[offset:offset + count] = bytes(count)
PY
out=$("$NBDKIT" -U - python "$T/v1.py" --run "$NBDSH -u \"\$uri\" -c 'h.pwrite(b\"XY\", 2); h.zero(2, 6); print(h.pread(10, 0))'")
expect_eq "$out" "bytearray(b'abXYef\x00\x00ab')" "API_VERSION 1"
expect_contains "$("$NBDKIT" python "$T/v1.py" --dump-plugin)" "thread_model=serialize_all_requests" "default thread model"

# nbdkit in the background (it forks after get_ready): the interpreter keeps working.
port=$(free_port)
"$NBDKIT" -P "$T/bg.pid" -i 127.0.0.1 -p "$port" python "$T/v1.py" || fail "nbdkit in the background"
PIDS+=("$(cat "$T/bg.pid")")
expect_eq "$($NBDCOPY "nbd://127.0.0.1:$port" - | head -c 8)" "abcdefgh" "read from the forked server"
kill "$(cat "$T/bg.pid")"

# The same script under Debian's nbdkit python plugin gives the same bytes.
if [ -e /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-python-plugin.so ]; then
  ours=$("$NBDKIT" -U - python "$T/v1.py" --run "$NBDCOPY \"\$uri\" - | md5sum")
  theirs=$("$REF_NBDKIT" -U - python "$T/v1.py" --run "$NBDCOPY \"\$uri\" - | md5sum")
  expect_eq "$ours" "$theirs" "the same bytes as Debian's python plugin"
else
  fail "Debian's nbdkit-plugin-python is not installed (scripts/install-deps.sh)"
fi

# Bad scripts and parameters: one line, exit 1.
printf 'def open(readonly):\n    return 1\ndef get_size(h):\n    return 1\n' >"$T/nopread.py"
printf 'def open(readonly) return 1\n' >"$T/syntax.py"
printf 'API_VERSION = 3\n' >"$T/api3.py"
expect_fail_line 1 "no pread() function" "$NBDKIT" -U - python "$T/nopread.py" --run true
expect_fail_line 1 "SyntaxError" "$NBDKIT" -U - python "$T/syntax.py" --run true
expect_fail_line 1 "API_VERSION 3" "$NBDKIT" -U - python "$T/api3.py" --run true
expect_fail_line 1 "no config() function" "$NBDKIT" -U - python "$T/v1.py" size=1 --run true
expect_fail_line 1 "unknown parameter bogus" "$NBDKIT" -U - python "$T/ram.py" bogus=1 --run true
expect_fail_line 1 "no script given" "$NBDKIT" -U - python --run true
expect_fail_line 1 "$T/none.py" "$NBDKIT" -U - python "$T/none.py" --run true
pass
