#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# -v shows every call into every layer as upstream does ("offset: pread count=512 offset=0",
# then the plugin's own line with the shifted offset), -D nbdkit.backend.datapath=0 and
# controlpath=0 silence each half, -D PLUGIN.FLAG=N sets a plugin's debug flag (file.zero),
# an unknown flag is a warning and a malformed -D is one error line with exit status 1.
# Driven by Debian's libnbd Python module as the client.
source "$(dirname "$0")/../lib.sh"
require_bin nbdkit
/usr/bin/python3 -c 'import nbd' 2>/dev/null || fail "python3-libnbd is not installed (scripts/install-deps.sh)"

OPS="-c 'h.pread(512,0)' -c 'h.pwrite(b\"a\"*512,512)' -c 'h.zero(512,0)' -c 'h.trim(512,0)' -c 'h.flush()'"
OPS+=" -c 'h.cache(512,0)' -c 'h.shutdown()'"
run_ops() { # run_ops NBDKIT-ARGS... : stderr of the server into $T/log
  "$NBDKIT" -U - "$@" --run "$REF_NBDSH -u \"\$uri\" $OPS" >/dev/null 2>"$T/log" || fail "nbdkit $* failed: $(cat "$T/log")"
}
has() { grep -qxF "$1" <(sed 's/^nbdkit: [^ ]*: debug: //; s/^nbdkit: debug: //' "$T/log") || fail "$2: no line '$1' in: $(cat "$T/log")"; }
hasnt() { ! grep -q "$1" "$T/log" || fail "$2: unexpected '$1' in: $(cat "$T/log")"; }

# ---- every layer, in order, with what each one is asked ----
run_ops -v --filter=offset memory 1M offset=1024
for line in "memory: config key=size, value=1M" "offset: config key=offset, value=1024" \
  "memory: config_complete" "offset: get_ready" "offset: preconnect" \
  'offset: open readonly=0 exportname="" tls=0' 'memory: open readonly=0 exportname="" tls=0' \
  "memory: can_write" "offset: get_size" \
  "offset: pread count=512 offset=0" "memory: pread count=512 offset=1024" \
  "offset: pwrite count=512 offset=512 fua=0" "memory: pwrite count=512 offset=1536 fua=0" \
  "offset: zero count=512 offset=0 may_trim=1 fua=0 fast=0" "memory: zero count=512 offset=1024 may_trim=1 fua=0 fast=0" \
  "offset: trim count=512 offset=0 fua=0" "memory: trim count=512 offset=1024 fua=0" \
  "offset: flush" "memory: flush" "offset: cache count=512 offset=0" "memory: cache count=512 offset=1024" \
  "client sent NBD_CMD_DISC, closing connection" "offset: close" "memory: close" "memory: unload"; do
  has "$line" "-v"
done
# Order: the filter's line comes right before the plugin's.
grep -A1 "offset: pread count=512 offset=0" "$T/log" | tail -1 | grep -q "memory: pread count=512 offset=1024" ||
  fail "-v: the plugin's pread does not follow the filter's"

# ---- without -v nothing; each -D half switch silences its half ----
run_ops --filter=offset memory 1M offset=1024
[ ! -s "$T/log" ] || fail "without -v: printed $(cat "$T/log")"
run_ops -v -D nbdkit.backend.datapath=0 memory 1M
has "memory: can_write" "datapath=0"; hasnt "pread count" "datapath=0"; hasnt "memory: flush" "datapath=0"
run_ops -v -D nbdkit.backend.controlpath=0 memory 1M
has "memory: pread count=512 offset=0" "controlpath=0"; hasnt "can_write" "controlpath=0"; hasnt "memory: open" "controlpath=0"

# ---- a plugin's own flag: file.zero says how each zero was done ----
truncate -s 1M "$T/disk.img"
run_ops -v -D file.zero=1 -D nbdkit.backend.controlpath=0 file "$T/disk.img"
has "file: zero count=512 offset=0: fallocate(PUNCH_HOLE) succeeded" "file.zero"
run_ops -v file "$T/disk.img"
hasnt "fallocate(" "file.zero unset"

# ---- unknown flags warn and serve; malformed ones are one error line ----
run_ops -D memory.nosuch=1 -D elsewhere.flag=2 memory 1M
grep -q "warning: -D memory.nosuch: memory has no debug flag called nosuch" "$T/log" || fail "unknown flag: $(cat "$T/log")"
grep -q "warning: debug flag -D elsewhere.flag was not used" "$T/log" || fail "unused flag: $(cat "$T/log")"
for bad in foo foo.bar foo.bar= .bar=1 foo.=1 foo.bar=1x; do
  expect_fail_line 1 "-D $bad" "$NBDKIT" -D "$bad" -U - memory 1M --run true
done
pass
