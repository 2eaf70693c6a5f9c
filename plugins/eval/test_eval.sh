#!/usr/bin/env bash
# eval plugin through our server: upstream's file-serving example written and read by
# Debian's nbdcopy and qemu-io, compared with Debian's nbdkit; errors as negative cases.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer qemu-io

cd "$T" || fail "cd $T"
head -c 2M /dev/urandom > src.img
truncate -s 2M disk.img
# The example from the upstream blog and man page, as a user types it (relative file name).
example=(eval config='ln -sf "$(realpath "$3")" $tmpdir/file' get_size='stat -Lc %s $tmpdir/file'
  pread='dd if=$tmpdir/file skip=$4 count=$3 iflag=count_bytes,skip_bytes'
  pwrite='dd of=$tmpdir/file seek=$4 conv=notrunc oflag=seek_bytes' file=disk.img)

"$NBDKIT" -U - "${example[@]}" --run "$NBDCOPY src.img \"\$uri\" && $NBDCOPY \"\$uri\" back.img" \
  || fail "nbdcopy through the eval example failed"
cmp src.img disk.img || fail "disk.img does not hold what nbdcopy wrote through eval"
cmp src.img back.img || fail "reading back through eval gave different bytes"

out=$("$NBDKIT" -U - "${example[@]}" --run \
  'qemu-io -f raw -c "write -P 0xa5 1000 3000" -c "read -P 0xa5 1000 3000" "$uri"' 2>&1) || fail "qemu-io: $out"
[[ "$out" != *"verification failed"* ]] || fail "qemu-io read back wrong bytes: $out"
cmp -n 3000 -i 1000:0 disk.img <(head -c 3000 /dev/zero | tr '\0' '\245') || fail "qemu-io's pattern is not in disk.img"

# The same command under Debian's nbdkit answers nbdinfo identically.
# Our server always advertises block sizes; Debian's only when the plugin has block_size.
strip_uri() { grep -v -e 'uri:' -e '^protocol:' -e 'block_size_'; }
ours=$("$NBDKIT" -U - "${example[@]}" --run "$NBDINFO \"\$uri\"" | strip_uri)
theirs=$("$REF_NBDKIT" -U - "${example[@]}" --run "$NBDINFO \"\$uri\"" | strip_uri)
expect_eq "$ours" "$theirs" "nbdinfo of the eval example under our nbdkit and Debian's"
expect_contains "$ours" "is_read_only: false" "pwrite= implies can_write"

# list_exports output formats reach nbdinfo --list.
out=$("$NBDKIT" -U - eval get_size='echo 1M' pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none' \
  list_exports='printf "INTERLEAVED\na\ndesc a\nb\ndesc b\n"' --run "$NBDINFO --list \"\$uri\"" | grep -E '^export=|description:')
expect_eq "$out" $'export="a":\n\tdescription: desc a\nexport="b":\n\tdescription: desc b' "nbdinfo --list"

# Negative: "EIO boom" from pread reaches the client as EIO; the log names the fragment.
"$NBDKIT" -U - eval get_size='echo 64K' pread='echo "EIO boom" >&2; exit 1' \
  --run "qemu-io -r -f raw -c 'read 0 512' \"\$uri\"" > bad.out 2> bad.err
grep -q "Input/output error" bad.out bad.err || fail "client did not see EIO: $(cat bad.out bad.err)"
grep -q "/pread: boom" bad.err || fail "server log lacks the fragment's message: $(cat bad.err)"

# Negative: a key that is neither a method nor handled by config= is refused in one line.
expect_fail_line 1 "'foo'" "$NBDKIT" -U - eval get_size='echo 1M' foo=bar --run true

# Negative: no get_size= means the client cannot connect.
"$NBDKIT" -U - eval pread='exit 1' --run "$NBDINFO \"\$uri\"" > /dev/null 2> nosize.err \
  && fail "nbdinfo succeeded without get_size="
grep -q "the get_size method is required" nosize.err || fail "no clear get_size error: $(cat nosize.err)"
pass
