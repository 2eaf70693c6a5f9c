#!/usr/bin/env bash
# sh plugin through our server: a file-backed script written and read by Debian's nbdcopy,
# qemu-io and nbdinfo, compared with Debian's nbdkit running the same script; inline `-`
# scripts; errors, a missing get_size and can_write=false as negative cases.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

# A file-backed disk in the style of upstream's example script, with extents and zero.
cat > "$T/disk.sh" <<'EOF'
#!/bin/bash
f=$tmpdir/disk
case "$1" in
  config) [ "$2" = file ] || { echo "EINVAL unknown parameter $2" >&2; exit 1; }
          ln -sf "$(realpath "$3")" "$f" ;;
  config_complete) [ -e "$f" ] || { echo "EINVAL file= is required" >&2; exit 1; } ;;
  thread_model) echo parallel ;;
  get_size) stat -Lc %s "$f" ;;
  can_write|can_flush|can_trim|can_zero|can_extents|can_multi_conn) exit 0 ;;
  can_fua) echo native ;;
  pread) dd if="$f" skip=$4 count=$3 iflag=count_bytes,skip_bytes status=none ;;
  pwrite) dd of="$f" seek=$4 conv=notrunc oflag=seek_bytes status=none ;;
  flush) sync ;;
  trim|zero) fallocate -p -o $4 -l $3 -n "$f" ;;
  extents) echo 0 $(stat -Lc %s "$f") ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$T/disk.sh"

# nbdcopy writes 3 MiB of random data through the script, then reads it back.
head -c 3M /dev/urandom > "$T/src.img"
truncate -s 3M "$T/disk.img"
"$NBDKIT" -U - sh "$T/disk.sh" file="$T/disk.img" --run "$NBDCOPY $T/src.img \"\$uri\" && $NBDCOPY \"\$uri\" $T/back.img" \
  || fail "nbdcopy through the sh plugin failed"
cmp "$T/src.img" "$T/disk.img" || fail "the file behind the script does not hold what nbdcopy wrote"
cmp "$T/src.img" "$T/back.img" || fail "reading back through the script gave different bytes"

# qemu-io: a pattern write with FUA, a zero, and reads that check the bytes.
out=$("$NBDKIT" -U - sh "$T/disk.sh" file="$T/disk.img" --run \
  'qemu-io -f raw -c "write -f -P 0x5a 4096 8192" -c "write -z 65536 4096" -c "read -P 0x5a 4096 8192" -c "read -P 0 65536 4096" "$uri"' 2>&1) \
  || fail "qemu-io through the sh plugin failed: $out"
[[ "$out" != *"verification failed"* ]] || fail "qemu-io read back wrong bytes: $out"
cmp -n 8192 -i 4096:0 "$T/disk.img" <(head -c 8192 /dev/zero | tr '\0' 'Z') || fail "pattern 0x5a not in the file"
cmp -n 4096 -i 65536:0 "$T/disk.img" /dev/zero || fail "zero did not zero the file"

# Same script under Debian's nbdkit: identical nbdinfo answers (sizes, flags, map).
# Our server always advertises block sizes; Debian's only when the plugin has block_size.
strip_uri() { grep -v -e 'uri:' -e '^protocol:' -e 'block_size_'; }
ours=$("$NBDKIT" -U - sh "$T/disk.sh" file="$T/disk.img" --run "$NBDINFO \"\$uri\"; $NBDINFO --map \"\$uri\"" | strip_uri)
theirs=$("$REF_NBDKIT" -U - sh "$T/disk.sh" file="$T/disk.img" --run "$NBDINFO \"\$uri\"; $NBDINFO --map \"\$uri\"" | strip_uri)
expect_eq "$ours" "$theirs" "nbdinfo of the same script under our nbdkit and Debian's"
expect_contains "$ours" "can_fua: true" "nbdinfo"

# Every answer a script can give (export list with descriptions, default export, block sizes,
# booleans, extents): nbdinfo --list --json and --map agree with Debian's nbdkit byte for byte.
cat > "$T/full.sh" <<'EOF'
#!/bin/bash
case "$1" in
  list_exports) printf 'NAMES+DESCRIPTIONS\nalpha\nbeta\nthe first\nthe second\n' ;;
  default_export) printf 'INTERLEAVED\nbeta\nignored\n' ;;
  open) echo "h_$3" ;;
  get_size) [ "$2" = h_beta ] && echo 10M || echo 1M ;;
  block_size) echo 512 64K 1M ;;
  is_rotational|can_multi_conn|can_extents|can_write|can_zero|can_fast_zero) exit 0 ;;
  can_trim) exit 3 ;;
  can_cache) echo native ;;
  can_fua) echo none ;;
  pread) dd if=/dev/zero count=$3 iflag=count_bytes status=none ;;
  extents) printf "0 1M\n1M 4M hole,zero\n5M 5M 0\n" ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$T/full.sh"
info="$NBDINFO --list --json \"\$uri\" | grep -v -e uri -e protocol -e extended; $NBDINFO --map \"\$uri\"; $NBDINFO --size \"\$uri\""
ours=$("$NBDKIT" -U - sh "$T/full.sh" --run "$info")
theirs=$("$REF_NBDKIT" -U - sh "$T/full.sh" --run "$info")
expect_eq "$ours" "$theirs" "nbdinfo --list/--map of every script answer, ours vs Debian's"
expect_contains "$ours" '"description": "the second"' "list_exports NAMES+DESCRIPTIONS"
expect_contains "$ours" "1048576     4194304    3  hole,zero" "extents"
expect_contains "$ours" $'\n10485760' "default_export chose beta"

# An inline script from stdin (no "#!": it runs under /bin/sh), the man page's example.
out=$("$NBDKIT" -U - sh - --run "$NBDINFO --size \"\$uri\" && $NBDCOPY \"\$uri\" $T/inline.img" <<'EOF'
case "$1" in
  get_size) echo 1M ;;
  pread) dd if=/dev/zero count=$3 iflag=count_bytes status=none ;;
  *) exit 2 ;;
esac
EOF
) || fail "inline script failed"
expect_eq "$out" "1048576" "inline script size"
cmp "$T/inline.img" <(head -c 1M /dev/zero) || fail "inline script did not read as zeroes"

# Negative: "EIO boom" reaches the client as EIO, and the log line carries the message.
cat > "$T/bad.sh" <<'EOF'
#!/bin/sh
case "$1" in
  get_size) echo 64K ;;
  pread) echo "EIO boom" >&2; exit 1 ;;
  can_write) exit 3 ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$T/bad.sh"
"$NBDKIT" -U - sh "$T/bad.sh" --run "qemu-io -r -f raw -c 'read 0 512' \"\$uri\"" > "$T/bad.out" 2> "$T/bad.err"
grep -q "Input/output error" "$T/bad.out" "$T/bad.err" || fail "client did not see EIO: $(cat "$T/bad.out" "$T/bad.err")"
grep -q "$T/bad.sh: boom" "$T/bad.err" || fail "server log lacks the script's message: $(cat "$T/bad.err")"

# Negative: can_write exiting 3 makes the export read-only, and writes fail.
out=$("$NBDKIT" -U - sh "$T/bad.sh" --run "$NBDINFO \"\$uri\"" 2>/dev/null)
expect_contains "$out" "is_read_only: true" "can_write exit 3"
"$NBDKIT" -U - sh "$T/bad.sh" --run "qemu-io -f raw -c 'write 0 512' \"\$uri\"" > "$T/ro.out" 2>&1
grep -q -i "read-only\|Operation not permitted\|permission" "$T/ro.out" || fail "a write to a read-only script export succeeded: $(cat "$T/ro.out")"

# Negative: without get_size the client cannot connect, and the log says why.
cat > "$T/nosize.sh" <<'EOF'
#!/bin/sh
exit 2
EOF
chmod +x "$T/nosize.sh"
"$NBDKIT" -U - sh "$T/nosize.sh" --run "$NBDINFO \"\$uri\"" > /dev/null 2> "$T/nosize.err" \
  && fail "nbdinfo succeeded against a script without get_size"
grep -q "nosize.sh: the get_size method is required" "$T/nosize.err" || fail "no clear get_size error: $(cat "$T/nosize.err")"

# Negative: a script that is not executable is refused at startup with one line.
chmod -x "$T/nosize.sh"
expect_fail_line 1 "not executable" "$NBDKIT" -U - sh "$T/nosize.sh" --run true
pass
