#!/usr/bin/env bash
# exportname filter through our server, over a directory of exports: the list, the default
# export, strict refusals and descriptions seen by Debian's libnbd (python) match what Debian's
# nbdkit gives for the same settings; Debian's and our nbdinfo --list show the chosen names.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer nbdkit
[ -x "$REF_NBDKIT" ] || REF_NBDKIT=/usr/bin/nbdkit

mkdir "$T/dir"
printf 'first' >"$T/dir/a"
printf 'second' >"$T/dir/b"
cat >"$T/probe.py" <<'PY'
import nbd, sys
h = nbd.NBD()
h.set_opt_mode(True)
h.set_full_info(True)
h.connect_uri(sys.argv[1])
try:
    l = []
    h.opt_list(lambda n, d: l.append((n, d)))
    print("list", sorted(l))
except nbd.Error as e:
    print("list error", e.errnum)
for name in sys.argv[2:]:
    h.set_export_name(name)
    try:
        h.opt_info()
        try:
            d = h.get_export_description()
        except nbd.Error:
            d = None
        print("info", repr(name), "->", repr(h.get_canonical_export_name()), h.get_size(), repr(d))
    except nbd.Error as e:
        print("info", repr(name), "error", e.errnum)
h.opt_abort()
PY
# probe SERVER ARGS...: what libnbd sees for "" a b x under the filter with ARGS.
probe() {
  local srv=$1; shift
  "$srv" -U - --filter=exportname file dir="$T/dir" "$@" \
    --run "/usr/bin/python3 $T/probe.py \"\$uri\" '' a b x" 2>/dev/null || fail "probe via $srv $*"
}
cases=(
  ""
  "exportname-list=error"
  "exportname-list=empty"
  "exportname-list=defaultonly default-export=b"
  "exportname-list=explicit exportname=x exportname=a exportname=a"
  "default-export=a exportdesc=fixed:hello"
  "exportdesc=none default-export=b"
  "exportname-strict=true"
  "exportname-strict=true exportname=a exportname=b"
  "exportname-strict=true exportname=a exportname=b default-export=a"
  "exportname-strict=true exportname=a exportname= default-export=b"
  "exportname-strict=true exportname=a exportname=b exportname= default-export=b"
)
for c in "${cases[@]}"; do
  ours=$(probe "$NBDKIT" $c)
  ref=$(probe "$REF_NBDKIT" $c)
  expect_eq "$ours" "$ref" "libnbd's view with '$c'"
done
# The script's output is the description, with the name in $name (quoting-proof).
script='script:printf "about [%s]\n" "$name"; echo line2'
ours=$(probe "$NBDKIT" exportname-list=explicit exportname=a exportname="it's \$(x)" default-export=b exportdesc="$script")
ref=$(probe "$REF_NBDKIT" exportname-list=explicit exportname=a exportname="it's \$(x)" default-export=b exportdesc="$script")
expect_eq "$ours" "$ref" "libnbd's view with a description script"
expect_eq "$(echo "$ours" | head -2)" "list [('a', 'about [a]\\nline2'), (\"it's \$(x)\", \"about [it's \$(x)]\\nline2\")]
info '' -> 'b' 6 'about [b]\\nline2'" "the script's descriptions"

# Content, spelled out for some cases (so two equally wrong servers cannot pass).
expect_eq "$(probe "$NBDKIT" exportname-list=defaultonly default-export=b | head -2)" "list [('b', '')]
info '' -> 'b' 6 None" "defaultonly lists the default export, which opens b"
expect_eq "$(probe "$NBDKIT" exportname-strict=true exportname=a | grep -c error)" "3" "strict refuses '' b x"

# nbdinfo --list (Debian's and ours) and nbdinfo on a named export.
for info in "$NBDINFO"; do
  out=$("$NBDKIT" -U - --filter=exportname file dir="$T/dir" exportname-list=explicit exportname=b \
    exportdesc=fixed:only-b --run "$info --list --json \"\$uri\"") || fail "$info --list"
  expect_contains "$out" '"export-name": "b"' "$info --list shows b"
  expect_contains "$out" '"description": "only-b"' "$info --list shows the description"
  [[ "$out" != *'"export-name": "a"'* ]] || fail "$info --list shows a, which was not listed"
  size=$("$NBDKIT" -U - --filter=exportname file dir="$T/dir" default-export=a \
    --run "$info --size \"\$uri\"") || fail "$info on the default export"
  expect_eq "$size" "5" "$info: the default export is a"
done
"$NBDKIT" -U - --filter=exportname file dir="$T/dir" exportname-strict=true exportname=b \
  --run "$NBDCOPY \"nbd+unix:///b?socket=\$unixsocket\" $T/b.out" || fail "copy of the named export b"
expect_eq "$(cat "$T/b.out")" "second" "bytes of export b"

# Negative: strict refusal seen by a client, and bad values refused at startup in one line.
if "$NBDKIT" -U - --filter=exportname file dir="$T/dir" exportname-strict=true exportname=b \
  --run "$NBDINFO \"nbd+unix:///a?socket=\$unixsocket\"" >/dev/null 2>&1; then
  fail "strict mode let a client open the unlisted export a"
fi
expect_fail_line 1 "exportname-list=all" "$NBDKIT" -U - --filter=exportname null 1M exportname-list=all --run true
expect_fail_line 1 "exportdesc=bogus" "$NBDKIT" -U - --filter=exportname null 1M exportdesc=bogus --run true
expect_fail_line 1 "exportname-strict" "$NBDKIT" -U - --filter=exportname null 1M exportname-strict=maybe --run true
pass
