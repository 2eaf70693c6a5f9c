#!/usr/bin/env bash
# fua filter through our server: what Debian's nbdinfo sees for each mode is what it sees under
# Debian's nbdkit, the requests that reach the plugin (seen by the log filter) are the same,
# bytes written in every mode read back, and modes the plugin cannot back serve nothing.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit nbdsh
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

# A writable sh plugin with neither flush nor FUA.
noflush=$T/noflush.sh
cat >"$noflush" <<'SH'
#!/bin/bash
case "$1" in
  get_size) echo 1048576 ;;
  can_write) exit 0 ;;
  pread) dd if=/dev/zero count=$3 iflag=count_bytes status=none ;;
  pwrite) cat >/dev/null ;;
  *) exit 2 ;;
esac
SH
chmod +x "$noflush"

caps() { "$1" -U - --filter=fua $2 --run "$NBDINFO \"\$uri\"" 2>/dev/null | grep -E 'can_(fua|flush)' | tr -d '\t\n'; }
# Debian's 1.32 refuses the documented fuamode=none, so the default stands in for it there.
for args in "memory 1M" "memory 1M fuamode=emulate" "memory 1M fuamode=native" "memory 1M fuamode=force" \
            "memory 1M fuamode=pass" "memory 1M fuamode=discard" "sh $noflush" "sh $noflush fuamode=pass" \
            "sh $noflush fuamode=discard"; do
  ours=$(caps "$NBDKIT" "$args")
  ref=$(caps "$REF_NBDKIT" "$args")
  [ -n "$ref" ] || fail "reference nbdinfo printed nothing for '$args'"
  expect_eq "$ours" "$ref" "nbdinfo capabilities with '$args'"
done
expect_eq "$(caps "$NBDKIT" "memory 1M fuamode=none")" "$(caps "$REF_NBDKIT" "memory 1M")" "fuamode=none is the default"

# What reaches the plugin: a FUA write, a plain write and a flush, logged below the filter.
script='h.pwrite(b"a" * 512, 0, nbd.CMD_FLAG_FUA); h.pwrite(b"b" * 512, 512); h.flush()
assert h.pread(1024, 0) == b"a" * 512 + b"b" * 512'
calls() {
  rm -f "$T/log"
  "$1" -U - --filter=fua --filter=log memory 1M fuamode=$2 logfile="$T/log" \
    --run "$NBDSH -u \"\$uri\" -c '$script'" || fail "$1 fuamode=$2: writes failed"
  grep -v ' \.\.\.[A-Z]' "$T/log" | grep -oE '(Write|Flush|Zero|Trim) id=[0-9]+( offset=[^ ]+ count=[^ ]+ fua=[01])?' | sed 's/ id=[0-9]*//' | tr '\n' ';'
}
for m in emulate native force discard pass; do
  ours=$(calls "$NBDKIT" $m)
  ref=$(calls "$REF_NBDKIT" $m)
  [[ "$ref" == *Write* ]] || fail "reference log has no writes for fuamode=$m: '$ref'"
  expect_eq "$ours" "$ref" "requests reaching the plugin under fuamode=$m"
done
expect_eq "$(calls "$NBDKIT" force)" "Write offset=0x0 count=0x200 fua=1;Write offset=0x200 count=0x200 fua=1;" \
  "force: every write has FUA and flush never reaches the plugin"

# Negative: an unknown mode is one line naming it; emulate/native/force over a plugin with
# neither flush nor FUA serve no export (and -r needs nothing of the plugin, as upstream).
expect_fail_line 1 "fuamode=sometimes" "$NBDKIT" -U - --filter=fua memory 1M fuamode=sometimes --run true
for m in emulate native force; do
  if "$NBDKIT" -U - --filter=fua sh "$noflush" fuamode=$m --run "$NBDINFO --size \"\$uri\"" 2>"$T/err" >/dev/null; then
    fail "fuamode=$m over a plugin without flush/FUA served an export"
  fi
  grep -q "fuamode=$m requires the plugin" "$T/err" || fail "fuamode=$m: no clear error: $(cat "$T/err")"
done
expect_eq "$("$NBDKIT" -r -U - --filter=fua sh "$noflush" fuamode=emulate --run "$NBDINFO --size \"\$uri\"")" 1048576 \
  "-r with fuamode=emulate over a plugin without flush"
pass
