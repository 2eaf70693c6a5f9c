#!/usr/bin/env bash
# protect filter through our server: the same bytes are protected as under Debian's nbdkit for
# every form of protect=, clients see EPERM (qemu-io, nbdcopy's exit status and message) when
# they would change protected bytes, identical data copies over a protected disk, unprotected
# parts are written to the file below, and bad ranges exit 1 with one line.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy
require_peer nbdkit qemu-io

# One letter per offset: w if a changing 1-byte write succeeds, P if it fails with EPERM.
cat > "$T/probe.py" <<'PY'
import nbd
s = h.get_size()
out = []
for off in (0, 15, 16, 17, 99, 100, 150, 199, 200, 201, 255, 256, s - 1):
    try:
        h.pwrite(b"x", off)
        out.append("w")
    except nbd.Error as e:
        out.append("P" if e.errnum == 1 else "?%d" % e.errnum)
print("".join(out))
PY
probe() { timeout 20 "$1" -U - --filter=protect memory 1000 "${@:2}" --run "$NBDSH -u \"\$uri\" -c 'exec(open(\"$T/probe.py\").read())'" 2>/dev/null; }
for args in "protect=100-199" "protect=~100-199" "protect=100-" "protect=-199" "protect=-" "protect=~-" \
            "protect=~100-" "protect=0x10-0x10" "protect=020-021" "protect=~100-199 protect=~150-255" \
            "protect=100-2000" "protect=0x10-0x10 protect=200-0377"; do
  # shellcheck disable=SC2086
  ours=$(probe "$NBDKIT" $args)
  # shellcheck disable=SC2086
  ref=$(probe "$REF_NBDKIT" $args)
  [ ${#ref} -eq 13 ] || fail "Debian's nbdkit gave no probe result for '$args': '$ref'"
  expect_eq "$ours" "$ref" "protected offsets with '$args'"
done
expect_eq "$(probe "$NBDKIT" protect=16-16 'protect=~100-199')" "PPPPPwwwPPPPP" "overlapping ranges protect their union"
expect_eq "$(probe "$NBDKIT" protect=0-18446744073709551615)" "PPPPPPPPPPPPP" "the whole 64-bit range"

# Identical data may be written over protected bytes: copying the disk onto itself succeeds.
head -c 1M /dev/urandom > "$T/disk.img"
cp "$T/disk.img" "$T/orig.img"
timeout 20 "$NBDKIT" -U - --filter=protect file "$T/disk.img" protect=0-0xffff \
  --run "$NBDCOPY $T/orig.img \"\$uri\"" || fail "copying identical data over protected bytes"
cmp "$T/disk.img" "$T/orig.img" || fail "identical copy changed the disk"

# Negative: copying other data fails with EPERM and leaves the protected bytes as they were.
head -c 1M /dev/urandom > "$T/other.img"
if timeout 20 "$NBDKIT" -U - --filter=protect file "$T/disk.img" protect=0-0xffff \
  --run "$NBDCOPY $T/other.img \"\$uri\"" 2>"$T/err"; then
  fail "nbdcopy of different data over protected bytes succeeded"
fi
grep -q "Operation not permitted" "$T/err" || fail "nbdcopy did not report EPERM: $(cat "$T/err")"
cmp -n 65536 "$T/disk.img" "$T/orig.img" || fail "protected bytes changed"

# qemu-io: EPERM inside the complement of a partition-like window, writes inside it land.
qio=(qemu-io -f raw -c "write -P 0x55 4096 512" -c "write -P 0x66 0 512" -c "write -P 0x77 8192 512")
timeout 20 "$NBDKIT" -U - --filter=protect file "$T/disk.img" 'protect=~4096-8191' \
  --run "${qio[*]@Q} \"\$uri\"" >"$T/qio" 2>&1
expect_contains "$(cat "$T/qio")" "wrote 512/512 bytes at offset 4096" "qemu-io write inside the window"
expect_contains "$(cat "$T/qio")" "write failed: Operation not permitted" "qemu-io write outside the window"
[ "$(grep -c 'write failed: Operation not permitted' "$T/qio")" -eq 2 ] || fail "expected two EPERMs: $(cat "$T/qio")"
expect_eq "$(od -An -tx1 -j4096 -N4 "$T/disk.img" | tr -d ' ')" "55555555" "bytes written inside the window"
cmp -n 4096 "$T/disk.img" "$T/orig.img" || fail "bytes before the window changed"
cmp -i 8192 "$T/disk.img" "$T/orig.img" || fail "bytes after the window changed"

# Negative: bad ranges are one line naming the parameter, exit 1.
for v in 200-100 abc 100 1k-2k 100-199x; do
  expect_fail_line 1 "protect=$v" "$NBDKIT" -U - --filter=protect memory 1M "protect=$v" --run true
done
pass
