#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The documented out-of-tree plugin (docs/examples/hello_plugin.cc) built with the compiler
# against include/ only, loaded by path: exports, default export, descriptions, content.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo nbdcopy
CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || skip "no C++ compiler"
"$CXX" -std=c++20 -Wall -Wextra -Werror -shared -fPIC -I "$NBD_SRC/include" \
  "$NBD_SRC/docs/examples/hello_plugin.cc" -o "$T/hello.so" || fail "example plugin does not build"

start_server "$T/sock" "$T/hello.so" hi size=64K
U="nbd+unix:///?socket=$T/sock"
# NBD_OPT_LIST with names and descriptions, in order.
out=$($REF_NBDINFO --list --json "$U" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
print(" ".join("%s=%s" % (e["export-name"], e["description"]) for e in j["exports"]))')
expect_eq "$out" "hello=the default export world=the other export" "exports listed"
# The default export is "hello"; "world" differs; content is the greeting + name repeated.
$REF_NBDCOPY "$U" "$T/hello.out"
expect_eq "$(head -c 18 "$T/hello.out" | base64)" "$(printf "hi hello\nhi hello\n" | base64)" "default export content"
expect_eq "$(stat -c %s "$T/hello.out")" 65536 "default export size"
expect_eq "$($REF_NBDCOPY "nbd+unix:///world?socket=$T/sock" - | head -c 8)" "hi world" "named export content"
expect_eq "$($REF_NBDINFO --size "nbd+unix:///world?socket=$T/sock")" 65536 "size= parameter"
# Negative: an unknown export is refused at NBD_OPT_GO and the server keeps serving.
$REF_NBDINFO "nbd+unix:///nope?socket=$T/sock" 2>"$T/err" && fail "unknown export accepted"
expect_contains "$(cat "$T/err")" "nope" "unknown export error"
expect_eq "$($REF_NBDINFO --size "$U")" 65536 "still serving"

# Loading errors are one line naming the file or the parameter.
expect_fail_line 1 "no-such.so" "$NBDKIT" -U - "$T/no-such.so" --run true
echo 'int x;' >"$T/empty.cc" && "$CXX" -shared -fPIC "$T/empty.cc" -o "$T/empty.so"
expect_fail_line 1 "nbdkit_cpp_plugin_info" "$NBDKIT" -U - "$T/empty.so" --run true
expect_fail_line 1 "greeting" "$NBDKIT" -U - "$T/hello.so" greeting= --run true
# A .so built against other headers is refused before its record is touched (the record here
# is garbage: reading it would crash), and one with no version record too.
cat >"$T/old.cc" <<'CC'
#include <cstdint>
extern "C" void nbdkit_cpp_abi(uint32_t* v, uint32_t* s) { *v = 1; *s = 8; }
extern "C" const void* nbdkit_cpp_plugin_info() { return reinterpret_cast<const void*>(16); }
CC
"$CXX" -shared -fPIC "$T/old.cc" -o "$T/old.so"
expect_fail_line 1 "old.so' was built against nbdkit++ C++ API version 1" "$NBDKIT" -U - "$T/old.so" --run true
cat >"$T/norecord.cc" <<'CC'
extern "C" const void* nbdkit_cpp_plugin_info() { return reinterpret_cast<const void*>(16); }
CC
"$CXX" -shared -fPIC "$T/norecord.cc" -o "$T/norecord.so"
expect_fail_line 1 "no nbdkit++ API version record" "$NBDKIT" -U - "$T/norecord.so" --run true

# The example filter (--filter=./xor.so): its key is routed to it, data is XORed both ways.
"$CXX" -std=c++20 -Wall -Wextra -Werror -shared -fPIC -I "$NBD_SRC/include" \
  "$NBD_SRC/docs/examples/xor_filter.cc" -o "$T/xor.so" || fail "example filter does not build"
out=$("$NBDKIT" -U - --filter="$T/xor.so" "$T/hello.so" hi xor-key=1 --run "$REF_NBDCOPY \"\$uri\" - | head -c 2")
expect_eq "$out" "ih" "xor filter over the hello plugin ('h'^1='i', 'i'^1='h')"
cat >"$T/xor.py" <<'PY'
import os, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h.pwrite(b"secret", 0)
assert h.pread(6, 0) == b"secret"
print("ok")
PY
out=$("$NBDKIT" -U - --filter="$T/xor.so" memory 1M xor-key=0x20 --run "/usr/bin/python3 $T/xor.py")
expect_eq "$out" "ok" "xor filter round trip"
expect_fail_line 1 "xor-key=300" "$NBDKIT" -U - --filter="$T/xor.so" null xor-key=300 --run true
pass
