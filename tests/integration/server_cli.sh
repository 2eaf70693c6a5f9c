#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# labels: asan
# nbdkit's command line: errors (one line, exit 1), --run variables and exit status, -U -,
# -P/-f/background, -s, socket activation, -o, -e, TCP, --filter routing, --dump-*.
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit
require_peer nbdinfo
NBDSH="/usr/bin/python3 -m nbd"

# ---- errors: exactly one line naming the argument, exit status 1 ----
expect_fail_line 1 "size=1Q" "$NBDKIT" -U - null 1Q --run true
expect_fail_line 1 "--badopt" "$NBDKIT" --badopt null
expect_fail_line 1 "nosuchplugin" "$NBDKIT" -U - nosuchplugin --run true
expect_fail_line 1 "colour" "$NBDKIT" -U - null colour=red --run true
expect_fail_line 1 "nosuchfilter" "$NBDKIT" -U - --filter=nosuchfilter null --run true
expect_fail_line 1 "threads" "$NBDKIT" -t 0 -U - null --run true
expect_fail_line 1 "no plugin" "$NBDKIT" -U -
expect_fail_line 1 "--run" "$NBDKIT" -U - null --run

# ---- informational modes ----
"$NBDKIT" --help | grep -q "PLUGIN \[\[KEY=\]VALUE" || fail "--help"
"$NBDKIT" --version | grep -q "^nbdkit 1\." || fail "--version"
"$NBDKIT" --dump-config | grep -q "^plugins=.*null" || fail "--dump-config lists null"
"$NBDKIT" null --dump-plugin | grep -q "^name=null$" || fail "--dump-plugin"
"$NBDKIT" null --help | grep -q "size=" || fail "PLUGIN --help"

# ---- --run: variables, exit status, private socket removed ----
out=$("$NBDKIT" -U - null --run 'echo "$uri|$nbd|$port|$exportname|$unixsocket"')
IFS='|' read -r uri nbd port exportname sock <<<"$out"
expect_eq "$uri" "nbd+unix://?socket=$sock" "\$uri"
expect_eq "$nbd" "$uri" "\$nbd"
expect_eq "$port" "" "\$port"
expect_eq "$exportname" "" "\$exportname"
[ -e "$sock" ] && fail "private socket $sock not removed"
[ -d "$(dirname "$sock")" ] && fail "private socket dir not removed"
# -U - is under /tmp whatever $TMPDIR says, as upstream's (a socket path must stay short).
sock=$(TMPDIR="$T" "$NBDKIT" -U - null --run 'echo "$unixsocket"')
case "$sock" in /tmp/nbdkit*/socket) ;; *) fail "-U - socket is $sock, not /tmp/nbdkitXXXXXX/socket" ;; esac
out=$("$NBDKIT" -U - -e foo null --run 'echo "$uri $exportname"')
[[ "$out" == "nbd+unix:///foo?socket="*" foo" ]] || fail "-e in \$uri: $out"
"$NBDKIT" -U - null --run 'exit 3'; expect_eq "$?" 3 "--run exit status"
"$NBDKIT" -U - null --run 'kill -9 $$' 2>/dev/null; expect_eq "$?" 137 "--run killed by a signal"

# ---- -f -P, SIGTERM: clean exit, socket removed ----
"$NBDKIT" -f -U "$T/a.sock" -P "$T/a.pid" null 1M & pid=$!
wait_for_file "$T/a.pid"
expect_eq "$(cat "$T/a.pid")" "$pid" "pidfile contents"
expect_eq "$($REF_NBDINFO --size "nbd+unix:///?socket=$T/a.sock")" 1048576 "size over -U"
kill -TERM "$pid"; wait "$pid"; expect_eq "$?" 0 "exit status after SIGTERM"
[ -e "$T/a.sock" ] && fail "socket not removed at exit"

# ---- without -f nbdkit forks into the background ----
"$NBDKIT" -U "$T/b.sock" -P "$T/b.pid" null 2M || fail "background start"
wait_for_file "$T/b.pid"
bgpid=$(cat "$T/b.pid"); PIDS+=("$bgpid")
expect_eq "$($REF_NBDINFO --size "nbd+unix:///?socket=$T/b.sock")" 2097152 "background server"
kill "$bgpid"

# ---- TCP on a free port ----
p=$(free_port)
"$NBDKIT" -f -i 127.0.0.1 -p "$p" -P "$T/c.pid" null 3M & PIDS+=($!)
wait_for_file "$T/c.pid"
expect_eq "$($REF_NBDINFO --size "nbd://127.0.0.1:$p")" 3145728 "TCP"

# ---- -s (stdin/stdout), oldstyle and socket activation ----
out=$($NBDSH -c "h.connect_command(['$NBDKIT', '-s', 'null', '4M']); print(h.get_size(), h.get_protocol())")
expect_eq "$out" "4194304 newstyle-fixed" "-s"
out=$($NBDSH -c "h.connect_command(['$NBDKIT', '-s', '-o', 'null', '5M']); print(h.get_size(), h.get_protocol())")
expect_eq "$out" "5242880 oldstyle" "-o"
out=$($NBDSH -c "h.connect_systemd_socket_activation(['$NBDKIT', 'null', '6000001']); print(h.get_size())")
expect_eq "$out" "6000001" "socket activation"
# Socket activation never forks, so the client's SIGTERM reaches the server and nothing lingers.
pgrep -f "$NBDKIT null 6000001" && fail "socket-activated server still running"

# ---- -r and --filter routing: offset= goes to the filter, the bare size to the plugin ----
out=$("$NBDKIT" -U - -r null 1M --run "$REF_NBDINFO --json \"\$uri\"" | grep -o '"is_read_only": [a-z]*')
expect_eq "$out" '"is_read_only": true' "-r"
if "$NBDKIT" --dump-config | grep -q "^filters=.*offset"; then
  out=$("$NBDKIT" -U - --filter=offset null 1M offset=1024 --run "$REF_NBDINFO --size \"\$uri\"")
  expect_eq "$out" "$((1048576 - 1024))" "--filter=offset"
fi
pass
