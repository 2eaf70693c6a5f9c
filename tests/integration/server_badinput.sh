#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# Garbage, truncated handshakes, oversize options, invalid requests (exact NBD errors),
# vanishing clients and extended headers against our server; a normal client works after each.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit

start_server "$T/sock" memory 64M
/usr/bin/python3 "$NBD_SRC/tests/integration/server_badinput.py" "$T/sock" || fail "bad input cases"
kill -0 "${PIDS[0]}" || fail "server died"
pass
