#!/usr/bin/env bash
# data plugin through our server, compared byte for byte with Debian's nbdkit serving the same
# parameters (the upstream blog's and man page's examples), read by Debian's nbdcopy/nbdinfo.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdkit qemu-io

# same_as_ref NAME ARGS...: our export and Debian's, given the same data parameters, have the
# same bytes; leaves ours in $T/NAME.ours.
same_as_ref() {
  local name=$1; shift
  "$NBDKIT" -U - data "$@" --run "$NBDCOPY \"\$uri\" $T/$name.ours" || fail "$name: our nbdkit failed"
  "$REF_NBDKIT" -U - data "$@" --run "$NBDCOPY \"\$uri\" $T/$name.ref" || fail "$name: Debian's nbdkit failed"
  cmp "$T/$name.ours" "$T/$name.ref" || fail "$name: our bytes differ from Debian's nbdkit"
}

# The blog's commands.
same_as_ref pattern ' ( 0x55 0xAA )*2048 '
expect_eq "$(stat -c %s "$T/pattern.ours")" 4096 "( 0x55 0xAA )*2048 size"
same_as_ref script ' <( while :; do printf "%04x" $((i++)); done ) [:2048] '
# /bin/sh is dash here, which has no $((i++)): the script fails and, under a slice, gives
# nothing, on both servers. The same counter in bash:
same_as_ref counter " <( exec bash -c 'while :; do printf \"%04x\" \$((i++)); done' ) [:2048] "
expect_eq "$(stat -c %s "$T/counter.ours")" 2048 "counter size"
expect_eq "$(head -c 12 "$T/counter.ours")" "000000010002" "counter output"

"$NBDKIT" -U - data ' </dev/urandom[:512]*16 ' --run "$NBDCOPY \"\$uri\" $T/urandom" || fail "urandom"
expect_eq "$(stat -c %s "$T/urandom")" 8192 "</dev/urandom[:512]*16 size"
for i in $(seq 1 15); do
  cmp <(dd if="$T/urandom" bs=512 skip=$i count=1 status=none) <(head -c 512 "$T/urandom") ||
    fail "sector $i of </dev/urandom[:512]*16 differs from sector 0"
done
cmp -s <(head -c 512 "$T/urandom") <(head -c 512 /dev/zero) && fail "</dev/urandom[:512] read zeroes"

map=$("$NBDKIT" -U - data ' @32768 1 ' --run "$NBDINFO --map \"\$uri\"")
ref_map=$("$REF_NBDKIT" -U - data ' @32768 1 ' --run "$NBDINFO --map \"\$uri\"")
expect_eq "$map" "$ref_map" "nbdinfo --map of @32768 1"
expect_contains "$map" "hole,zero" "map of @32768 1"
expect_contains "$map" "     32768           1    0  data" "map of @32768 1"

# A boot sector that prints to COM1 and exits QEMU through isa-debug-exit (code 0x10 -> 33).
boot='49 192 142 216 190 26 124 186 248 3 172 132 192 116 3 238 235 248 176 16 230 244 250 244 235 252
      "HELLO FROM NBD\r\n" 0 @0x1fe 85 170'
same_as_ref boot data="$boot" size=512
expect_eq "$(stat -c %s "$T/boot.ours")" 512 "boot sector size"
if command -v qemu-system-x86_64 >/dev/null; then
  "$NBDKIT" -U - -r data data="$boot" size=512 --run "timeout -k 2 60 qemu-system-x86_64 -machine pc,accel=tcg \
    -m 32 -display none -nodefaults -no-reboot -drive file=\"\$uri\",format=raw,if=ide,snapshot=on \
    -serial file:$T/serial.txt -device isa-debug-exit,iobase=0xf4,iosize=0x04"
  rc=$?
  expect_eq "$rc" 33 "qemu exit code after booting the data disk"
  expect_eq "$(tr -d '\r' <"$T/serial.txt")" "HELLO FROM NBD" "boot sector output"
else
  echo "note: qemu-system-x86_64 is not installed (package qemu-system-x86): boot check not run" >&2
fi

# The man page's examples and the rest of the language.
printf 'file-one' >"$T/f1"
printf 'second file\n' >"$T/f2"
same_as_ref mbr '
  @0x1be    # MBR first partition entry
    0 0 2 0 0x83 0x20 0x20 0
    le32:1 le32:0x7ff
  @0x1fe 0x55 0xaa' size=1M
same_as_ref files " <$T/f1 @^512 <$T/f2 @^512 <$T/f2[2:6]*3 "
same_as_ref names ' ( 0x55 0xAA ) -> \boot-signature ( @0x1fe \boot-signature ) -> \sector \sector \sector '
same_as_ref vars '$pattern*16 @-3 "xyz" be32:0x01020304 le64:7' pattern='0x55 0xAA'
same_as_ref strings ' ( "Hello" )*2000 ' size=8192
same_as_ref offsets ' 0 1 2 3 @^0x200 @-2 le16:0xaa55 @+5 1 2 3 4 @0 ( @2 5 ) @^8 '
# Corners of the language where order, scopes, holes and slices interact.
i=0
while IFS= read -r expr; do
  same_as_ref "corner$((i++))" "$expr"
done <<'EOF'
( 1 2 @+3 ( 4 @^8 5 )*2 )*3 @-5 9
( @10 1 @0 2 )[3:11]*2
( 1 2 3 4 5 6 7 8 )*100[13:507] @^64 0xff*3
( "abc" @^16 )*4 @7 ( "xy" )*5 @30 le64:0xdeadbeef
( ( 1 ) -> \a ( \a \a ) -> \b \b \b \a ) -> \c \c*3 \c[1:4]
@4 ( @-0 1 ) @0 ( 2 @3 )
( 0 )*4096 1 ( 0 0 0 )*4096 2
( 7 @65536 8 )*3 [65530:131080]
( 0x11 0x22 ) * 70000 @100 ( 0 )*1000
<(printf "hello world") [6:] * 2
( 1 2 ) -> \x ( 3 \x ) -> \x \x \x
EOF
export pattern_from_env='0x42 "env"'
same_as_ref env '$pattern_from_env*2'
same_as_ref base64 base64=aGVsbG8gbmJka2l0IHVzZXI= size=1K
same_as_ref raw raw='Hello, world!'
same_as_ref zstd '( "compressible " )*10000 @1048576 0x55 0xAA' allocator=zstd

# Writes land in the allocator and read back; the original data is kept elsewhere.
out=$("$NBDKIT" -U - data '( 0x11 )*64K' --run "qemu-io -f raw -c 'write -P 0x22 4096 4096' \
  -c 'read -P 0x22 4096 4096' -c 'read -P 0x11 0 4096' -c 'read -P 0x11 8192 4096' \"\$uri\"" 2>&1)
[[ "$out" == *"read 4096/4096"* && "$out" != *"fail"* && "$out" != *"ERROR"* ]] || fail "write/read back: $out"

# A terabyte in a few bytes.
expect_eq "$("$NBDKIT" -U - data '@1T 1' --run "$NBDINFO --size \"\$uri\"")" 1099511627777 "@1T 1 size"
map=$("$NBDKIT" -U - data '( 0 )*1T' --run "$NBDINFO --map \"\$uri\"")
expect_eq "$map" "         0  1099511627776    3  hole,zero" "map of ( 0 )*1T"

# Negative: errors are one line naming the offset and what was expected.
expect_fail_line 1 "offset 6: expected a repeat count after '*', found 'x'" "$NBDKIT" -U - data '( 0 )*x' --run true
expect_fail_line 1 "offset 9: [0:5] is not a valid slice" "$NBDKIT" -U - data '( 1 2 3 )[:5]' --run true
expect_fail_line 1 "exactly one of data=, raw= or base64=" "$NBDKIT" -U - data 1 raw=x --run true
expect_fail_line 1 "\\nope is not defined" "$NBDKIT" -U - data '\nope' --run true
pass
