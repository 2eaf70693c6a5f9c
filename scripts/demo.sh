#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make run`: serve a small export end to end with our own server and look at it with our own
# client tools, exactly as a user would type it.
set -euo pipefail
B=${1:-build}/bin
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "nbdkit -U - data '\"Hello from nbdkit++\" @512 ( 0x55 0xAA )*8 @1M' --run 'nbdinfo \"\$uri\"; nbddump \"\$uri\" -n 528; nbdinfo --map \"\$uri\"'"
"$B/nbdkit" -U - data '"Hello from nbdkit++" @512 ( 0x55 0xAA )*8 @1M' \
  --run "$B/nbdinfo \"\$uri\"; echo; $B/nbddump -n 528 \"\$uri\"; echo; $B/nbdinfo --map \"\$uri\""

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "nbdkit -U - memory 64M --run 'nbdcopy -- [ nbdkit pattern 64M ] \"\$uri\" && nbdcopy \"\$uri\" out.img'"
"$B/nbdkit" -U - memory 64M \
  --run "$B/nbdcopy -- [ $B/nbdkit pattern 64M ] \"\$uri\" && $B/nbdcopy \"\$uri\" $tmp/out.img"
"$B/nbdkit" -U - pattern 64M --run "$B/nbdcopy \"\$uri\" $tmp/ref.img"
cmp "$tmp/out.img" "$tmp/ref.img" && echo "copied 64 MiB through a memory disk: identical to the pattern"
