#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Debian's own filter .so files (nbdkit 1.32, built for upstream's C filter API), loaded by full
# path into our nbdkit over our pattern plugin: the size and every byte must equal what
# Debian's nbdkit serves with the same stack. Debian's files are test peers only.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo nbdcopy
F=/usr/lib/x86_64-linux-gnu/nbdkit/filters
[ -d "$F" ] && [ -x "$REF_NBDKIT" ] || skip "Debian's nbdkit and its filters are not installed"

check() {
  local name=$1; shift
  local so=$F/nbdkit-$name-filter.so ours ref
  [ -f "$so" ] || fail "$so is missing"
  local cmd="$NBDINFO --size \"\$uri\" && $NBDCOPY \"\$uri\" - | md5sum"
  ours=$("$NBDKIT" -U - --filter="$so" pattern 1M "$@" --run "$cmd" 2>&1) || fail "$name: our nbdkit failed: $ours"
  ref=$("$REF_NBDKIT" -U - --filter="$so" pattern 1M "$@" --run "$cmd" 2>&1) || fail "$name: Debian's nbdkit failed: $ref"
  expect_eq "$ours" "$ref" "$name $*: our nbdkit vs Debian's"
}
check offset offset=4096 range=65536
check truncate truncate=100000
check truncate round-up=65536 truncate=1000
check nozero
check noextents
check delay rdelay=1ms
check error error-pread-rate=0
check blocksize minblock=4096 maxdata=65536
check cow
check cache
check readahead
check fua
check nocache
check noparallel
check swab
check stats statsfile="$T/stats.txt"
check log logfile="$T/log.txt"
check limit limit=2
check retry
check multi-conn
check cacheextents
check checkwrite
check protect protect=0-4095
check rate rate=100M
check nofilter

# Two Debian filters stacked, and a write through cow (the plugin below stays read-only).
cmd="$NBDINFO --size \"\$uri\" && $NBDCOPY \"\$uri\" - | md5sum"
stack=(--filter="$F/nbdkit-offset-filter.so" --filter="$F/nbdkit-truncate-filter.so" pattern 1M offset=512 truncate=70000)
expect_eq "$("$NBDKIT" -U - "${stack[@]}" --run "$cmd")" "$("$REF_NBDKIT" -U - "${stack[@]}" --run "$cmd")" "offset+truncate"
head -c 65536 /dev/urandom >"$T/in"
cmd="$NBDCOPY $T/in \"\$uri\" && $NBDCOPY \"\$uri\" - | head -c 65536 | md5sum"
expect_eq "$("$NBDKIT" -U - --filter="$F/nbdkit-cow-filter.so" pattern 1M --run "$cmd")" "$(md5sum <"$T/in")" "cow: write then read back"
# The error filter's injected errors reach the client.
out=$("$NBDKIT" -U - --filter="$F/nbdkit-error-filter.so" pattern 1M error=ENOSPC error-pread-rate=1 \
  --run "$NBDCOPY \"\$uri\" - >/dev/null" 2>&1)
expect_contains "$out" "No space left on device" "error filter: ENOSPC reaches the client"
pass
