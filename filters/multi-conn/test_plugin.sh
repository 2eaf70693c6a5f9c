#!/bin/bash
# The sh plugin of both multi-conn shell tests: writable, its flush, multi-conn and thread model
# follow the environment (NOFLUSH, MC, TM).
case "$1" in
  get_size) echo 1048576 ;;
  can_write) exit 0 ;;
  can_flush) [ -n "$NOFLUSH" ] && exit 3; exit 0 ;;
  flush) exit 0 ;;
  can_multi_conn) [ -n "$MC" ] && exit 0; exit 3 ;;
  thread_model) echo ${TM:-parallel} ;;
  pread) dd if=/dev/zero count=$3 iflag=count_bytes status=none ;;
  pwrite) cat >/dev/null ;;
  *) exit 2 ;;
esac
