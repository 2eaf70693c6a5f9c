#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Resource limits: options per handshake, the handshake deadline (--timeout) against idle and
# trickling clients, and the memory held for a client that never reads its replies.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

start_server "$T/sock" --timeout=2 -t 16 --filter=delay pattern 256M rdelay=20ms
/usr/bin/python3 "$NBD_SRC/tests/integration/server_limits.py" "$T/sock" "$(cat "$T/sock.pid")" $((256 << 20)) ||
  fail "resource limit cases"
kill -0 "${PIDS[0]}" || fail "server died"

# Negative: --timeout takes a duration, and says so.
out=$("$NBDKIT" --timeout=soon memory 1M 2>&1) && fail "--timeout=soon accepted"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && grep -q "timeout" <<<"$out" || fail "--timeout=soon: $out"
pass
