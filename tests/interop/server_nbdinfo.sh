#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Debian's nbdinfo and nbdcopy against our server: --size, --map, --list, --json, --no-sr,
# --no-mc, --mask-handshake, and copies in both directions with checksums.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo nbdcopy

start_server "$T/sock" memory 4M
U="nbd+unix:///?socket=$T/sock"
expect_eq "$($REF_NBDINFO --size "$U")" 4194304 "--size"
head -c 1M /dev/urandom >"$T/data"
$REF_NBDCOPY "$T/data" "$U" || fail "nbdcopy to our server"
$REF_NBDCOPY "$U" "$T/back" || fail "nbdcopy from our server"
expect_eq "$(head -c 1M "$T/back" | md5sum)" "$(md5sum <"$T/data")" "round trip"
expect_eq "$(tail -c 3M "$T/back" | md5sum)" "$(head -c 3M /dev/zero | md5sum)" "rest is zero"
map=$($REF_NBDINFO --map "$U" | tr -s ' ')
expect_contains "$map" "0 1048576 0 data" "--map data"
expect_contains "$map" "1048576 3145728 3 hole,zero" "--map hole"
json=$($REF_NBDINFO --json "$U")
for k in '"export-size": 4194304' '"can_flush": true' '"structured": true'; do
  expect_contains "$json" "$k" "--json"
done
# No layer sets block sizes here, so, as upstream, none are advertised.
[[ "$json" == *block_size* ]] && fail "block sizes advertised where no layer set them: $json"
expect_contains "$($REF_NBDINFO --list "$U")" 'export="":' "--list"

# --no-sr: no structured replies, so no meta contexts either; --no-mc: no contexts.
out=$("$NBDKIT" -U - --no-sr null 1M --run "$REF_NBDINFO \"\$uri\"")
expect_contains "$out" "without TLS" "--no-sr protocol line"
[[ "$out" == *"structured packets"* ]] && fail "--no-sr still negotiated structured replies"
out=$("$NBDKIT" -U - --no-mc null 1M --run "$REF_NBDINFO \"\$uri\"")
[[ "$out" == *"base:allocation"* ]] && fail "--no-mc still offered base:allocation"
# --mask-handshake=0: a plain (non-fixed) newstyle server; libnbd can still use it.
out=$("$NBDKIT" -U - --mask-handshake=0 null 1M --run "$REF_NBDINFO \"\$uri\"")
expect_contains "$out" "protocol: newstyle without TLS" "--mask-handshake=0"
# --print-uri prints the URI clients use.
out=$("$NBDKIT" -U - --print-uri null --run true)
[[ "$out" == nbd+unix://\?socket=/*/socket ]] || fail "--print-uri: $out"
pass
