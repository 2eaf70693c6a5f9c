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
echo "layers enforced: 12 checks"
