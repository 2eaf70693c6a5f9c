#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A plugin written for upstream's C API (tests/cabi/c_plugin.c), built against our headers and
# against Debian's, loaded by our nbdkit: content, extents, exports, errors; and an API
# version 1 plugin (c_plugin_v1.c).
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy nbddump
PY=/usr/bin/python3
$PY -c 'import nbd' 2>/dev/null || fail "python3-libnbd is not installed (scripts/install-deps.sh)"
D=$NBD_BUILD/tests/cabi
variants=(ours)
[ -f /usr/include/nbdkit-plugin.h ] && variants+=(debian)

head -c 1M /dev/urandom >"$T/pattern"
for v in "${variants[@]}"; do
  so=$D/cabi_plugin_$v.so
  [ -f "$so" ] || fail "$so was not built"
  sock=$T/$v.sock
  U="nbd+unix:///?socket=$sock"
  start_server "$sock" "$so" 4M
  expect_eq "$($NBDINFO --size "$U")" 4194304 "$v: size from the magic key"
  # The default export has a name of its own, and NBD_OPT_LIST shows it and the other one.
  out=$($NBDINFO --list "$U" | grep -E '^export=|description:' | tr -d '\t' | tr '\n' ' ')
  expect_eq "$out" 'export="main": description: the main export export="other": description: the other export ' "$v: exports"
  # Write 1 MiB of random bytes, read the whole disk back: the pattern, then zeroes.
  $NBDCOPY "$T/pattern" "$U" || fail "$v: nbdcopy into the plugin failed"
  $NBDCOPY "$U" "$T/$v.out" || fail "$v: nbdcopy out of the plugin failed"
  expect_eq "$(head -c 1M "$T/$v.out" | md5sum)" "$(md5sum <"$T/pattern")" "$v: pattern read back"
  expect_eq "$(tail -c +1048577 "$T/$v.out" | tr -d '\0' | wc -c)" 0 "$v: unwritten part reads as zeroes"
  expect_eq "$($NBDDUMP --length=16 "nbd+unix:///other?socket=$sock" | head -1 | cut -c1-20)" \
    "$($NBDDUMP --length=16 "$U" | head -1 | cut -c1-20)" "$v: named export, same disk"
  # Extents: the written MiB is data, the rest a hole; a zero that may trim and a trim punch
  # whole blocks back into holes.
  expect_eq "$($NBDINFO --map "$U" | tr -s ' ' | tr '\n' '|')" " 0 1048576 0 data| 1048576 3145728 3 hole,zero|" "$v: map after writing"
  URI=$U $PY -c '
import nbd, os
h = nbd.NBD(); h.connect_uri(os.environ["URI"])
h.zero(8192, 0)
h.trim(4096, 1048576 - 4096)
h.flush()
h.pwrite(b"abc", 100, nbd.CMD_FLAG_FUA)
assert h.pread(3, 100) == b"abc"
assert h.pread(4096, 8192) != bytes(4096)
' || fail "$v: zero/trim/flush/FUA"
  expect_eq "$($NBDINFO --map "$U" | tr -s ' ' | tr '\n' '|')" \
    " 0 4096 0 data| 4096 4096 3 hole,zero| 8192 1036288 0 data| 1044480 3149824 3 hole,zero|" "$v: map after zero and trim"

  # A failing callback: the client gets the plugin's errno (nbdkit_set_error, or errno with
  # errno_is_preserved) and the server keeps serving.
  sock2=$T/$v.fail.sock
  start_server "$sock2" "$so" size=1M fail-write-at=65536 fail-read-at=131072
  out=$(URI="nbd+unix:///?socket=$sock2" $PY -c '
import nbd, os
h = nbd.NBD(); h.connect_uri(os.environ["URI"])
for f in (lambda: h.pwrite(b"x" * 512, 65536), lambda: h.pread(512, 131072)):
    try:
        f(); print("none", end=" ")
    except nbd.Error as e:
        print(e.errno, end=" ")
h.pwrite(b"y" * 512, 0)
print(h.pread(1, 0).decode())' 2>&1)
  expect_eq "$out" "ENOSPC ENOMEM y" "$v: errors reach the client"

  # Configuration errors are one line naming the culprit.
  expect_fail_line 1 "unknown parameter 'colour'" "$NBDKIT" -U - "$so" size=1M colour=blue --run true
  expect_fail_line 1 "size=SIZE is required" "$NBDKIT" -U - "$so" --run true
  expect_fail_line 1 "size=1Q" "$NBDKIT" -U - "$so" size=1Q --run true
  # --dump-plugin: our lines, then the plugin's own; --help: its config_help.
  out=$("$NBDKIT" "$so" --dump-plugin)
  expect_contains "$out" "name=ctest" "$v: --dump-plugin name"
  expect_contains "$out" "c_api_version=2" "$v: --dump-plugin API version"
  expect_contains "$out" "has_extents=1" "$v: --dump-plugin has_ lines"
  [[ "$out" != *"has_block_size=1"* ]] || fail "$v: has_block_size for a callback the plugin lacks"
  expect_eq "$(printf '%s\n' "$out" | tail -1)" "c_plugin_test=yes" "$v: the plugin's dump_plugin output last"
  expect_contains "$("$NBDKIT" "$so" --help)" "fail-write-at=OFFSET" "$v: --help shows config_help"
done

# A name that is neither built in nor installed in plugindir is refused, naming it.
expect_contains "$("$NBDKIT" --dump-config)" "plugindir=/" "--dump-config plugindir"
expect_fail_line 1 "unknown plugin 'no-such-ctest'" "$NBDKIT" -U - no-such-ctest --run true

# API version 1: callbacks without flags.
so=$D/cabi_plugin_v1.so
out=$("$NBDKIT" -U - "$so" --run "$NBDCOPY '$T/pattern' \"\$uri\" && $NBDCOPY \"\$uri\" - | head -c 1M | md5sum && $NBDINFO --map \"\$uri\"")
expect_eq "$out" "$(md5sum <"$T/pattern")
         0     1048576    0  data" "v1: round trip, all data"
expect_fail_line 1 "no default key" "$NBDKIT" -U - "$so" 1M --run true
pass
