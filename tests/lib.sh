# SPDX-License-Identifier: BSD-3-Clause
# Shared helpers for shell tests. Source it first; it makes a private temp dir $T, kills every
# child started with `bg` on exit, and defines our binaries ($NBDKIT ...) and Debian's reference
# tools used as peers ($REF_NBDINFO ...). Exit 77 = skipped (ctest shows it as skipped).
set -uo pipefail

NBD_BIN=${NBD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin}
NBD_SRC=${NBD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NBDKIT=$NBD_BIN/nbdkit
NBDINFO=$NBD_BIN/nbdinfo
NBDCOPY=$NBD_BIN/nbdcopy
NBDDUMP=$NBD_BIN/nbddump
REF_NBDKIT=/usr/bin/nbdkit
REF_NBDINFO=/usr/bin/nbdinfo
REF_NBDCOPY=/usr/bin/nbdcopy
REF_NBDDUMP=/usr/bin/nbddump
REF_NBDSH="/usr/bin/python3 -m nbd"
export LIBNBD_DEBUG=${LIBNBD_DEBUG:-0}

T=$(mktemp -d /tmp/nbdtest.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "PASS: ${0##*/}"; exit 0; }

# require_bin NAME...: our binary must have been built (missing = a build problem = fail).
require_bin() { local b; for b in "$@"; do [ -x "$NBD_BIN/$b" ] || fail "build/bin/$b was not built"; done; }
# require_peer NAME...: a reference tool; install-deps.sh installs them, so missing = fail.
require_peer() {
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || fail "peer '$b' is not installed (scripts/install-deps.sh)"
  done
}

expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; }
expect_contains() { [[ "$1" == *"$2"* ]] || fail "$3: expected to contain '$2', got '$1'"; }

# expect_fail_line STATUS SUBSTRING CMD...: CMD must exit with STATUS and print exactly one
# line on stderr containing SUBSTRING.
expect_fail_line() {
  local want=$1 sub=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want (stderr: $err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one error line: $err"
  [[ "$err" == *"$sub"* ]] || fail "'$*' error does not mention '$sub': $err"
}

# bg CMD...: start in the background and remember the pid for cleanup.
bg() { "$@" & PIDS+=($!); }

# wait_for_file PATH [SECONDS]: poll until PATH exists.
wait_for_file() {
  local i n=$(( ${2:-10} * 20 ))
  for ((i = 0; i < n; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  fail "timed out waiting for $1"
}

# free_port: a free TCP port on 127.0.0.1.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server SOCK ARGS...: our nbdkit on a Unix socket in the foreground of a background job;
# returns once it is listening (its -P pidfile appears).
start_server() {
  local sock=$1; shift
  rm -f "$sock" "$sock.pid"
  bg "$NBDKIT" -f -U "$sock" -P "$sock.pid" "$@"
  wait_for_file "$sock.pid"
}
