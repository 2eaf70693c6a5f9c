#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Regenerates the seed corpus in fuzz/corpus/ (committed; run again when the protocol code
# grows a feature the seeds do not reach). Needs a normal build (BUILD, default build/):
# the server and client seeds are real conversations between our nbdkit and the client
# harness (fuzz_client_replay --live), and Debian's nbdinfo/qemu-io where installed, recorded
# by fuzz/record_proxy.py; the rest are written here by hand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
corpus=$here/corpus
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp"/*/nbdkit.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$corpus"/{protocol,server,client,uri,data,parse,decoders}

# record NAME CLIENT-CFG SERVER-CFG CLIENT-COMMAND...: one conversation with our nbdkit (64 KiB
# with data in two places, so reads and block status have something to say). The client's bytes
# seed the server target; the server's seed the client target when the client was our harness.
record() {
  local name=$1 ccfg=$2 scfg=$3; shift 3
  local server_seed=$corpus/client/$name
  [ "$1" = "$build/tests/fuzz_client_replay" ] || server_seed=/dev/null
  local d=$tmp/$name  # sockets of their own: a server on its way out unlinks its socket path
  mkdir "$d"
  "$build/bin/nbdkit" -U "$d/s.sock" -P "$d/nbdkit.pid" data '@0 "hello" @32768 1 2 3 @^65536' --filter=noparallel >/dev/null
  for _ in $(seq 100); do [ -S "$d/s.sock" ] && break; sleep 0.05; done
  python3 "$here/record_proxy.py" "$d/p.sock" "$d/s.sock" "$corpus/server/$name" "$server_seed" "$scfg" "$ccfg" &
  local proxy=$!
  for _ in $(seq 100); do [ -S "$d/p.sock" ] && break; sleep 0.05; done
  timeout 30 "$@" "nbd+unix:///?socket=$d/p.sock" >/dev/null 2>&1 || true
  wait $proxy
  kill "$(cat "$d/nbdkit.pid")" 2>/dev/null || true
}

for cfg in $(seq 0 15); do
  record "ours-cfg$cfg" "$cfg" 0 "$build/tests/fuzz_client_replay" --live "$cfg"
done
if command -v /usr/bin/nbdinfo >/dev/null; then
  record debian-nbdinfo-map 15 0 /usr/bin/nbdinfo --map
  record debian-nbdinfo-list 15 0 /usr/bin/nbdinfo --list
fi
# The server's corpus also gets the same conversations read-only (writes refused) and oldstyle
# openings (the server's greeting differs; the client bytes are what matter).
for f in "$corpus"/server/ours-cfg15; do
  { printf '\x01'; tail -c +2 "$f"; } >"$corpus/server/readonly-cfg15"
  { printf '\x02'; tail -c +2 "$f"; } >"$corpus/server/oldstyle-cfg15"
done

# Hand-written seeds: one per decoder (first byte picks it), URIs, data programs, values.
p=$corpus/protocol
printf '\x01IHAVEOPT\x00\x00\x00\x07\x00\x00\x00\x00' >"$p/option-header"
printf '\x03\x00\x01\x00\x03' >"$p/info-request"
printf '\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x03' >"$p/info-export"
printf '\x06\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0fbase:allocation' >"$p/meta-request"
printf '\x08\x25\x60\x95\x13\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00' >"$p/request"
printf '\x0a\x66\x8e\x33\xef\x00\x03\x00\x05\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x08' >"$p/reply-header"
printf '\x0b\x00\x00\x00\x05\x00\x04oops' >"$p/error-payload"
printf '\x0c\x00\x00\x00\x01\x00\x00\x10\x00\x00\x00\x00\x03' >"$p/block-status"
u=$corpus/uri
printf 'nbd://example.com:10810/disk' >"$u/tcp"
printf 'nbds+unix:///exp?socket=/tmp/s.sock&tls-psk-file=/k&tls-username=alice' >"$u/unix-tls"
printf 'nbd://[::1]:10809/a%%20b' >"$u/ipv6"
printf 'nbd+vsock://2:10809/' >"$u/vsock"
d=$corpus/data
printf '1 2 3 @0x100 "hello\\n" (0x55 0xAA)*16 @^512 le32:0x12345678' >"$d/basic"
printf '\\a = 1 2 3 \\a*4 ( \\a )[1:2] -> \\b \\b' >"$d/names"
printf '@1T 1 @^4096 (0)*1G' >"$d/huge"
v=$corpus/parse
printf '\x001M' >"$v/size"
printf '\x01yes' >"$v/bool"
printf '\x05500ms' >"$v/delay"
printf '\x061:1e9' >"$v/probability"
# Decoders: real files made by GNU tar, sfdisk, xz and qemu-img (first byte: 0 tar, 1 partition 1
# with 512-byte sectors, 2 xz, 3 qcow2), small so that mutations stay fast.
dec=$corpus/decoders
( cd "$tmp" && head -c 3000 /dev/urandom >a && printf 'hello\n' >b && tar cf t.tar --format=gnu b a &&
  tar cf p.tar --format=pax a )
{ printf '\x00'; cat "$tmp/t.tar"; } >"$dec/tar-gnu"
{ printf '\x00'; cat "$tmp/p.tar"; } >"$dec/tar-pax"
for label in dos gpt; do
  truncate -s 64K "$tmp/$label.img"
  printf 'label: %s\nstart=34, size=40, type=L\nsize=20, type=L\n' "$label" | sfdisk -q "$tmp/$label.img" >/dev/null
  { printf '\x01'; cat "$tmp/$label.img"; } >"$dec/partition-$label"
done
seq 1 4000 | xz --block-size=4KiB -c >"$tmp/x.xz"
{ printf '\x02'; cat "$tmp/x.xz"; } >"$dec/xz-4k-blocks"
# 3: qcow2 with 4 KiB clusters: plain, zlib- and zstd-compressed, by qemu-img.
{ seq 1 3000; head -c 8192 /dev/zero; head -c 2000 /dev/urandom; } >"$tmp/q.raw" && truncate -s 64K "$tmp/q.raw"
for c in plain zlib zstd; do
  opts=(-o cluster_size=4096)
  [ "$c" != plain ] && opts+=(-c -o "compression_type=$c")
  qemu-img convert -q -f raw -O qcow2 "${opts[@]}" "$tmp/q.raw" "$tmp/q-$c.qcow2"
  { printf '\x03'; cat "$tmp/q-$c.qcow2"; } >"$dec/qcow2-4k-$c"
done

ls "$corpus"/* | wc -l
