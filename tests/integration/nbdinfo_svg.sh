#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# nbdinfo --map --svg=FILE (tools/nbdinfo/svg.cc): the allocation map drawn as a picture. The
# SVG is rendered by rsvg-convert and the pixels at known offsets are checked against the
# extents the server reports (data, zero, hole, hole+zero), for a 1 GiB disk and for a 1 TiB
# one whose only data is 4 KiB; then the legend, standard output, and the bad uses.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdinfo
require_peer rsvg-convert
PIX="python3 $NBD_SRC/tests/fixtures/png_pixels.py"

# pixel SVG OFFSET: the x,y of the middle of the cell holding OFFSET, from the SVG's own geometry.
pixel() {
  python3 - "$1" "$2" <<'PY'
import re, sys
svg = open(sys.argv[1]).read()
g = re.search(r'<g id="map" transform="translate\((\d+),(\d+)\)"[^>]*data-bytes-per-cell="(\d+)" '
              r'data-columns="(\d+)" data-cell-pixels="(\d+)"', svg)
x0, y0, cell, cols, px = map(int, g.groups())
i = int(sys.argv[2]) // cell
print(f"{x0 + (i % cols) * px + px // 2},{y0 + (i // cols) * px + px // 2}")
PY
}
DATA='#1f4e99' ZERO='#9ecae1' HOLE='#f4a582' HOLEZERO='#e6e6e6'

printf '0 1M\n256M 64M zero\n512M 1M hole\n768M 512\n' >"$T/list"
$NBDKIT -U - --filter=extentlist memory 1G extentlist="$T/list" \
  --run "$NBDINFO --map --svg=$T/m.svg \"\$uri\"" >"$T/out" || fail "nbdinfo --map --svg failed"
expect_eq "$(cat "$T/out")" "" "nothing on standard output"
rsvg-convert "$T/m.svg" -o "$T/m.png" || fail "rsvg-convert cannot render the SVG"
args=()
for off in 0 $((512 << 10)) $((300 << 20)) $((512 << 20)) $((768 << 20)) $((900 << 20)) $(((1024 << 20) - 1)); do
  args+=("$(pixel "$T/m.svg" "$off")")
done
expect_eq "$($PIX "$T/m.png" "${args[@]}" | tr '\n' ' ')" \
  "$DATA $DATA $ZERO $HOLE $DATA $HOLEZERO $HOLEZERO " "colours at 0, 512K, 300M, 512M, 768M, 900M, the end"
# The negative of the same check: a cell next to the 512-byte data is not data.
expect_eq "$($PIX "$T/m.png" "$(pixel "$T/m.svg" $(((768 << 20) + (64 << 10))))")" "$HOLEZERO" "the cell after 768M"
legend=$(grep -o '<text[^>]*>[0-9] [a-z,]*: [^<]*</text>' "$T/m.svg" | sed 's/<[^>]*>//g' | tr '\n' '|')
expect_eq "$legend" "0 data: 1049088 (0.1%)|1 hole: 1M (0.1%)|2 zero: 64M (6.2%)|3 hole,zero: 1004535296 (93.6%)|" "legend"

# 1 TiB with 4 KiB of data at 512 GiB: the one cell shows, the rest is hole.
printf '512G 4K\n' >"$T/list1t"
$NBDKIT -U - --filter=extentlist memory 1T extentlist="$T/list1t" --run "$NBDINFO --map --svg=- \"\$uri\"" >"$T/t.svg" ||
  fail "--svg=- failed"
expect_contains "$(head -1 "$T/t.svg")" "<?xml" "--svg=- writes the SVG to standard output"
expect_contains "$(cat "$T/t.svg")" "1T (16M per cell)" "title: size and scale"
rsvg-convert "$T/t.svg" -o "$T/t.png" || fail "rsvg-convert cannot render the 1T SVG"
expect_eq "$($PIX "$T/t.png" "$(pixel "$T/t.svg" $((512 << 30)))" "$(pixel "$T/t.svg" $(((512 << 30) + (16 << 20))))" \
  "$(pixel "$T/t.svg" 0)" | tr '\n' ' ')" "$DATA $HOLEZERO $HOLEZERO " "1T: 4 KiB of data at 512G is visible"
[ "$(grep -c '<rect' "$T/t.svg")" -lt 200 ] || fail "1T map: too many rectangles"

# Bad uses: one line, exit 1.
S=$T/s.sock
start_server "$S" memory 1M
U="nbd+unix:///?socket=$S"
expect_fail_line 1 "--svg only with --map" "$NBDINFO" --svg="$T/x.svg" "$U"
expect_fail_line 1 "--svg needs a file name" "$NBDINFO" --map --svg "$U"
expect_fail_line 1 "cannot be used with --totals or --json" "$NBDINFO" --map --totals --svg="$T/x.svg" "$U"
expect_fail_line 1 "$T/no/such/x.svg" "$NBDINFO" --map --svg="$T/no/such/x.svg" "$U"
[ -e "$T/x.svg" ] && fail "a refused --svg wrote a file"
pass
