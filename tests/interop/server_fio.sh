#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# fio's nbd engine against our server: random writes at queue depth 32 verified with crc32c,
# on one connection and with 4 jobs (multi-conn) on disjoint regions.
source "$NBD_SRC/tests/lib.sh"
cd "$T"  # fio leaves its verify state files in the working directory
require_bin nbdkit
require_peer fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"

start_server "$T/sock" memory 64M
U="nbd+unix:///?socket=$T/sock"
fio --name=verify --ioengine=nbd --uri="$U" --rw=randwrite --bs=4k --iodepth=32 --size=16M \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$T/fio1.log" || fail "fio verify (1 job): $(tail -5 "$T/fio1.log")"
grep -q "err= 0" "$T/fio1.log" || fail "fio reported errors"
fio --name=multi --ioengine=nbd --uri="$U" --rw=randwrite --bs=64k --iodepth=16 --size=8M \
  --numjobs=4 --offset_increment=16M --verify=crc32c --do_verify=1 --verify_fatal=1 \
  --output="$T/fio2.log" || fail "fio verify (4 jobs): $(tail -5 "$T/fio2.log")"
# Negative: verifying data that was never written fails.
fio --name=neg --ioengine=nbd --uri="$U" --rw=read --bs=4k --iodepth=4 --size=1M --offset=60M \
  --verify=crc32c --verify_only=1 --verify_fatal=1 --output="$T/fio3.log" >/dev/null 2>&1 &&
  fail "fio verified data that was never written"
pass
