#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The layers are enforced by the build: each target sees only the internal headers of the
# layers it links. Compiles one-line files with the exact flags of real targets (from
# compile_commands.json): a plugin cannot include the server's or the client's internals, the
# client cannot include the server's and the server cannot include the client's; each target
# can include its own layer and src/common.
source "$NBD_SRC/tests/lib.sh"
db="$NBD_BUILD/compile_commands.json"
[ -f "$db" ] || fail "no $db (CMAKE_EXPORT_COMPILE_COMMANDS is on in CMakeLists.txt)"

# try SOURCE_OF_TARGET HEADER: exit status of compiling '#include "HEADER"' with that source's flags.
try() {
  local src=$1 header=$2
  printf '#include "%s"\nint main() { return 0; }\n' "$header" >"$T/probe.cc"
  local cmd
  cmd=$(/usr/bin/python3 - "$db" "$NBD_SRC/$src" "$T/probe.cc" <<'PY'
import json, shlex, sys
db, src, probe = sys.argv[1:]
for e in json.load(open(db)):
    if e["file"] == src:
        args = shlex.split(e["command"])
        out, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("-o", "-MF", "-MT", "-c"):
                skip = True
                continue
            if a in ("-MD",) or a == src:
                continue
            out.append(a)
        print(shlex.join(out + ["-fsyntax-only", probe]))
        break
PY
)
  [ -n "$cmd" ] || fail "no compile command for $src"
  (cd "$NBD_BUILD" && eval "$cmd") >"$T/probe.log" 2>&1
}

allowed() { try "$1" "$2" || fail "$1 cannot include $2: $(head -3 "$T/probe.log")"; }
refused() {
  try "$1" "$2" && fail "$1 can include $2: the layer is not enforced"
  grep -q "$2: No such file" "$T/probe.log" || fail "$1 including $2 failed for another reason: $(head -3 "$T/probe.log")"
}

allowed plugins/null/null.cc "common/sparse_array.h"
allowed plugins/null/null.cc "nbd/plugin.h"
refused plugins/null/null.cc "server/layer.h"
refused plugins/null/null.cc "client/impl.h"
refused filters/offset/offset.cc "server/backend.h"
allowed src/server/backend.cc "server/layer.h"
allowed src/server/backend.cc "common/sparse_array.h"
refused src/server/backend.cc "client/impl.h"
allowed src/client/handle.cc "client/impl.h"
refused src/client/handle.cc "server/layer.h"
refused tools/nbdinfo/nbdinfo.cc "client/impl.h"
refused tools/nbdinfo/nbdinfo.cc "server/session.h"
# The plugin runtime and the disk formats: plugins see the runtime, disk users see disk, the
# client and the tools see neither.
allowed plugins/null/null.cc "runtime/memory_like_connection.h"
allowed plugins/partitioning/partitioning.cc "disk/mbr_gpt_layout.h"
refused plugins/null/null.cc "disk/gpt.h"
refused src/client/handle.cc "runtime/allocator.h"
refused src/client/handle.cc "disk/mbr.h"
refused tools/nbdcopy/main.cc "runtime/allocator.h"
echo "layers enforced: 18 checks"

# The client library links nothing of the plugin runtime or the server (its link line).
link=$(grep -A3 "build bin/nbdinfo:" "$NBD_BUILD/build.ninja" | grep -m1 LINK_LIBRARIES || true)
[ -n "$link" ] || fail "no link line for bin/nbdinfo in build.ninja"
case "$link" in *nbd_client*) ;; *) fail "nbdinfo's link line does not name nbd_client: $link" ;; esac
for lib in nbd_runtime nbd_server nbd_disk nbd_cabi; do
  case "$link" in *"$lib"*) fail "nbdinfo links $lib: $link" ;; esac
done
echo "client links only nbd_client, nbd_protocol, nbd_common"

# GoogleTest only for tests: -DNBD_TESTS=OFF configures without it and builds no test binary;
# the default configuration has the unit tests.
cmake -S "$NBD_SRC" -B "$T/notests" -G Ninja -DNBD_TESTS=OFF >"$T/notests.log" 2>&1 ||
  fail "cmake -DNBD_TESTS=OFF failed: $(tail -3 "$T/notests.log")"
grep -qi gtest "$T/notests/build.ninja" && fail "-DNBD_TESTS=OFF still builds against GoogleTest"
grep -q "build bin/nbdkit:" "$T/notests/build.ninja" || fail "-DNBD_TESTS=OFF does not build nbdkit"
grep -qi gtest "$NBD_BUILD/build.ninja" || fail "the default build has no GoogleTest tests"
echo "GoogleTest only with NBD_TESTS"

