#!/usr/bin/env bash
# ddrescue filter through our server, with mapfiles written by GNU ddrescue and ddrescuelog:
# a finished rescue serves the source's exact bytes; reads touching blocks not marked '+' fail
# with EIO exactly where Debian's nbdkit fails them (nbdsh probes, nbdcopy and qemu-img exit
# status and message); the export is read-only as upstream's; bad mapfiles exit 1 with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo
require_peer nbdkit ddrescue ddrescuelog qemu-img

# A finished rescue: every block '+', the image reads back as the source.
head -c 1M /dev/urandom > "$T/src.img"
ddrescue -q "$T/src.img" "$T/rescued.img" "$T/full.map" || fail "ddrescue"
grep -qE '^0x0+ +0x0+100000 +\+$' "$T/full.map" || fail "ddrescue wrote an unexpected map: $(cat "$T/full.map")"
timeout 20 "$NBDKIT" -U - --filter=ddrescue file "$T/rescued.img" ddrescue-mapfile="$T/full.map" \
  --run "$NBDCOPY \"\$uri\" $T/out.img" || fail "copy of a finished rescue"
cmp "$T/out.img" "$T/src.img" || fail "bytes of a finished rescue differ"

# A partial rescue: sectors 0-2 and 5 of 8 finished, the rest bad.
head -c 4096 /dev/urandom > "$T/d.img"
printf '0\n1\n2\n5\n' | ddrescuelog -q -b 512 -s 4096 --create-mapfile=+- "$T/part.map" || fail "ddrescuelog"
# ... and the same with the other unfinished kinds: non-tried, non-trimmed, non-scraped.
ddrescuelog -q -a '-,?' "$T/part.map" > "$T/untried.map" &&
  ddrescuelog -q -a '-,*' "$T/part.map" > "$T/untrimmed.map" &&
  ddrescuelog -q -a '-,/' "$T/part.map" > "$T/unscraped.map" || fail "ddrescuelog -a"
grep -q '^0x00000C00  0x00000400  \*$' "$T/untrimmed.map" || fail "ddrescuelog -a: $(cat "$T/untrimmed.map")"
cat > "$T/probe.py" <<'PY'
import nbd
out = []
for off, n in ((0, 512), (0, 1536), (1024, 1024), (1535, 1), (1536, 1), (2048, 512), (2559, 2),
               (2560, 512), (3072, 1024), (4095, 1), (0, 4096)):
    try:
        assert h.pread(n, off) == open(IMG, "rb").read()[off:off + n]
        out.append("r")
    except nbd.Error as e:
        out.append("E" if e.errnum == 5 else "?%d" % e.errnum)
print("".join(out))
PY
probe() { timeout 20 "$1" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile="$2" \
  --run "$NBDSH -u \"\$uri\" -c 'IMG=\"$T/d.img\"' -c 'exec(open(\"$T/probe.py\").read())'" 2>/dev/null; }
for m in part untried untrimmed unscraped; do
  ours=$(probe "$NBDKIT" "$T/$m.map")
  expect_eq "$ours" "$(probe "$REF_NBDKIT" "$T/$m.map")" "reads over $m.map against Debian's nbdkit"
  expect_eq "$ours" "rrErEEErEEE" "reads over $m.map"
done

# Same capabilities as Debian's: read-only, no cache.
caps() { timeout 20 "$1" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile="$T/part.map" \
  --run "$NBDINFO \"\$uri\"" | grep -E 'is_read_only|can_' | tr -d '\t' | tr '\n' ' '; }
ref=$(caps "$REF_NBDKIT")
[[ "$ref" == *"is_read_only: true"* ]] || fail "Debian's nbdinfo: '$ref'"
expect_eq "$(caps "$NBDKIT")" "$ref" "nbdinfo capabilities"

# Negative: copying a partial rescue fails with EIO (nbdcopy and qemu-img).
if timeout 20 "$NBDKIT" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile="$T/part.map" \
  --run "$NBDCOPY \"\$uri\" $T/o2.img" 2>"$T/err"; then fail "nbdcopy of a partial rescue succeeded"; fi
grep -q "Input/output error" "$T/err" || fail "nbdcopy did not report EIO: $(cat "$T/err")"
if timeout 20 "$NBDKIT" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile="$T/part.map" \
  --run "qemu-img convert -f raw -O raw \"\$uri\" $T/o3.img" 2>"$T/err"; then fail "qemu-img convert succeeded"; fi
grep -q "Input/output error" "$T/err" || fail "qemu-img did not report EIO: $(cat "$T/err")"

# Negative: bad mapfiles are one line naming the file and line, exit 1.
check_bad() {  # CONTENT SUBSTRING
  printf "$1" > "$T/bad.map"
  expect_fail_line 1 "$2" "$NBDKIT" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile="$T/bad.map" --run true
}
check_bad '0x0 0x1000 +\n' "$T/bad.map:1: expected the current position line"
check_bad '# comment\n0x0 + 1\ngarbage\n' "$T/bad.map:3: expected a block line"
check_bad '0x0 + 1\n0 1536 X\n' "$T/bad.map:2: expected a block line"
check_bad '0x0 + 1\n0x600 0x200 +\n0 0x700 +\n' "$T/bad.map:3: block at 0 overlaps"
check_bad '0x0 + 1\n0 0x100000000000000000 +\n' "size=0x100000000000000000: number is too large"
check_bad '# empty\n' "not a ddrescue mapfile"
expect_fail_line 1 "/nonexistent/map" "$NBDKIT" -U - --filter=ddrescue file "$T/d.img" ddrescue-mapfile=/nonexistent/map --run true
expect_fail_line 1 "ddrescue-mapfile=FILE" "$NBDKIT" -U - --filter=ddrescue file "$T/d.img" --run true
pass
