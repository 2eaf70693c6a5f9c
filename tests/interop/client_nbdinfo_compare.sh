#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Our nbdinfo against Debian's nbdinfo on the same Debian nbdkit servers: identical stdout and
# exit status for every mode (text and JSON), plus negative cases.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdinfo
require_peer nbdkit nbdinfo

# compare SOCKET ARGS...: runs both nbdinfos with ARGS (the URI is built from SOCKET and
# substituted for @URI@) and checks stdout and exit status are identical.
compare() {
  local sock=$1; shift
  local args=() a
  for a in "$@"; do args+=("${a//@URI@/nbd+unix:///?socket=$sock}"); done
  local want got wrc grc
  want=$("$REF_NBDINFO" "${args[@]}" 2>/dev/null); wrc=$?
  got=$("$NBDINFO" "${args[@]}" 2>"$T/err"); grc=$?
  [ "$wrc" -eq "$grc" ] || fail "nbdinfo ${args[*]}: exit $grc, Debian's exits $wrc ($(cat "$T/err"))"
  [ "$want" == "$got" ] || fail "nbdinfo ${args[*]}: output differs:
$(diff <(echo "$want") <(echo "$got"))"
  ((++compared))
}

# serve NAME ARGS...: Debian's nbdkit on $T/NAME.sock.
serve() {
  local name=$1; shift
  rm -f "$T/$name.sock"
  bg "$REF_NBDKIT" -f -U "$T/$name.sock" -P "$T/$name.pid" "$@"
  wait_for_file "$T/$name.pid"
}

compared=0
serve mem memory 1M
serve data data ' @32768 1 @65536 "hello" @1048576 1 '
serve ro -r pattern 3M
serve sparse sparse-random 16M seed=42
serve desc --filter=exportname memory 64K exportname=a exportname=b exportdesc=fixed:hello default-export=a
serve bs --filter=blocksize-policy memory 1M blocksize-minimum=512 blocksize-preferred=4096 blocksize-maximum=65536
serve empty memory 0
serve odd memory 32769
truncate -s 3M "$T/disk.img"
printf 'some data' | dd of="$T/disk.img" bs=1 seek=1048576 conv=notrunc status=none
serve file file "$T/disk.img"
serve err --filter=error memory 1M error-pread=EIO error-rate=1
serve old -o memory 1M

modes=("" "--json" "--size" "--map" "--map --json" "--map --totals" "--map --totals --json"
       "--list" "--list --json" "--no-content" "--list --content"
       "--can read" "--can write" "--can trim" "--can zero" "--can fua" "--can flush" "--can cache"
       "--can df" "--can fast-zero" "--can multi-conn" "--can connect" "--can structured-reply"
       "--is read-only" "--is rotational" "--is tls" "--map=qemu:allocation-depth"
       "--color" "--color --map" "--color --map --totals" "--color --list" "--color --json"
       "--color --size" "--no-color")
short=("" "--json" "--map" "--map --totals --json" "--list" "--list --json" "--is read-only" "--can trim"
       "--color" "--color --map")
for s in mem data ro sparse desc bs empty odd file err old; do
  case $s in
    mem|data|desc) list=("${modes[@]}") ;;
    *) list=("${short[@]}") ;;
  esac
  for m in "${list[@]}"; do
    # shellcheck disable=SC2086
    compare "$T/$s.sock" $m @URI@
  done
done

# TCP, over IPv6 and IPv4 literals (the URI line shows the host as given).
P=$(free_port)
bg "$REF_NBDKIT" -f -i ::1 -p "$P" -P "$T/v6.pid" pattern 1M
wait_for_file "$T/v6.pid"
for m in "" "--json" "--map"; do
  # shellcheck disable=SC2086
  compare "$T/unused" $m "nbd://[::1]:$P/"
done
P4=$(free_port)
bg "$REF_NBDKIT" -f -i 127.0.0.1 -p "$P4" -P "$T/v4.pid" memory 1M
wait_for_file "$T/v4.pid"
compare "$T/unused" "nbd://127.0.0.1:$P4/"
compare "$T/unused" --list --json "nbd://localhost:$P4"

# On a terminal colour is the default, as upstream (script(1) gives both a pseudo-terminal).
on_tty() { script -qec "$(printf '%q ' "$@")" /dev/null | tr -d '\r'; }
for m in "" "--map" "--no-color"; do
  # shellcheck disable=SC2086
  want=$(on_tty "$REF_NBDINFO" $m "nbd+unix:///?socket=$T/mem.sock")
  # shellcheck disable=SC2086
  got=$(on_tty "$NBDINFO" $m "nbd+unix:///?socket=$T/mem.sock")
  [ "$want" == "$got" ] || fail "nbdinfo $m on a terminal: output differs:
$(diff <(echo "$want" | cat -v) <(echo "$got" | cat -v))"
  ((++compared))
done
case $(on_tty "$NBDINFO" "nbd+unix:///?socket=$T/mem.sock") in
  *$'\033[22;32m\tcan_trim: true\n\033[0m'*) ;;
  *) fail "nbdinfo on a terminal: no green can_trim" ;;
esac

# Negative cases: a missing socket, a bad URI, an unknown --can word, conflicting modes.
compare "$T/none.sock" @URI@
compare "$T/mem.sock" notauri
compare "$T/mem.sock" --can foo @URI@
compare "$T/mem.sock" --map --size @URI@
compare "$T/mem.sock" --totals @URI@
[ "$compared" -gt 130 ] || fail "only $compared comparisons ran"
echo "compared $compared invocations"
pass
