#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Our nbdinfo against qemu-nbd serving qcow2 (with a backing file and a dirty bitmap), started
# captive with [ CMD ARGS ] (systemd socket activation): same output as Debian's nbdinfo,
# including qemu's own metadata contexts.
source "${NBD_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
require_bin nbdinfo
require_peer qemu-img qemu-io qemu-nbd

cd "$T" || fail "no temp dir"
qemu-img create -q -f qcow2 base.qcow2 4M || fail "qemu-img create"
qemu-io -f qcow2 -c 'write -P 0x11 0 64k' base.qcow2 >/dev/null || fail "qemu-io base"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 || fail "qemu-img overlay"
qemu-img bitmap -f qcow2 --add top.qcow2 b0 || fail "qemu-img bitmap"
qemu-io -f qcow2 -c 'write -P 0x22 1M 128k' -c 'write -z 2M 64k' top.qcow2 >/dev/null || fail "qemu-io top"

# Socket paths differ per run; everything else must be identical.
norm() { sed -e 's|socket=[^"&]*|socket=SOCK|g'; }
compare() {
  local want got wrc grc
  want=$("$REF_NBDINFO" "$@" 2>/dev/null | norm); wrc=${PIPESTATUS[0]}
  got=$("$NBDINFO" "$@" 2>"$T/err" | norm); grc=${PIPESTATUS[0]}
  [ "$wrc" -eq "$grc" ] || fail "nbdinfo $*: exit $grc, Debian's exits $wrc: $(cat "$T/err")"
  [ "$want" == "$got" ] || fail "nbdinfo $*: output differs:
$(diff <(echo "$want") <(echo "$got"))"
  ((++compared))
}
compared=0
srv=(qemu-nbd -r -A -f qcow2 -B b0 top.qcow2)
for m in "" "--json" "--size" "--map" "--map --totals" "--map --json" "--map=qemu:allocation-depth" \
         "--map=qemu:allocation-depth --json" "--map=qemu:dirty-bitmap:b0" "--map=qemu:dirty-bitmap:b0 --totals --json" \
         "--list" "--is read-only" "--can write" "--color" "--color --map" \
         "--color --map=qemu:allocation-depth" "--color --map=qemu:allocation-depth --totals" \
         "--color --map=qemu:dirty-bitmap:b0" "--color --map=qemu:dirty-bitmap:b0 --totals"; do
  # shellcheck disable=SC2086
  compare $m -- [ "${srv[@]}" ]
done
# Content checks that don't depend on the reference: the map shows the three kinds of areas.
map=$("$NBDINFO" --map=qemu:allocation-depth -- [ "${srv[@]}" ] | tr -s ' ')
expect_contains "$map" " 0 65536 2 backing depth 2" "allocation depth of the backing data"
expect_contains "$map" " 1048576 131072 1 local" "allocation depth of the overlay write"
dirty=$("$NBDINFO" --map=qemu:dirty-bitmap:b0 -- [ "${srv[@]}" ] | tr -s ' ')
expect_contains "$dirty" " 1048576 131072 1 dirty" "dirty bitmap"
# Colours by kind of area, checked apart from the reference too; --no-color and JSON stay plain.
map=$("$NBDINFO" --color --map=qemu:allocation-depth -- [ "${srv[@]}" ] | cat -v | tr -s ' ')
expect_contains "$map" "^[[47m 0 65536 2 backing depth 2^[[0m" "backing data on white"
expect_contains "$map" "^[[1;37m^[[40m 1048576 131072 1 local^[[0m" "local data bold white on black"
dirty=$("$NBDINFO" --color --map=qemu:dirty-bitmap:b0 -- [ "${srv[@]}" ] | cat -v | tr -s ' ')
expect_contains "$dirty" "^[[22;31m 1048576 131072 1 dirty^[[0m" "dirty in red"
for m in --no-color --json; do
  out=$("$NBDINFO" --color $m --map=qemu:dirty-bitmap:b0 -- [ "${srv[@]}" ])
  case $out in *$'\033'*) fail "nbdinfo --color $m printed escape sequences" ;; esac
done
# Negative: a context the server lacks, and a captive command that is not a server.
expect_fail_line 1 'does not support metadata context "qemu:dirty-bitmap:nope"' \
  "$NBDINFO" --map=qemu:dirty-bitmap:nope -- [ "${srv[@]}" ]
"$NBDINFO" --size -- [ false ] 2>/dev/null && fail "a captive command that exits must fail"
"$NBDINFO" --hasnt qemu:dirty-bitmap:nope -- [ "${srv[@]}" ] || fail "--hasnt of a missing context"
"$NBDINFO" --has qemu:allocation-depth -- [ "${srv[@]}" ] || fail "--has of a present context"
"$NBDINFO" --has qemu:dirty-bitmap:nope -- [ "${srv[@]}" ]; expect_eq $? 2 "--has of a missing context"
echo "compared $compared invocations"
pass
