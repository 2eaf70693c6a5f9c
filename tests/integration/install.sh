#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make install's tree (cmake/Install.cmake) in a DESTDIR: the files are there; the installed
# nbdkit finds plugins in its plugindir; an out-of-tree C plugin built with pkg-config, a C++
# plugin and a client built with find_package(nbdkitpp), and a client built with pkg-config
# all work against it; man pages render; bash completion completes; uninstall removes it all.
# timeout: 300
source "$NBD_SRC/tests/lib.sh"
require_bin nbdkit nbdcopy nbdinfo nbddump
R=$T/root
P=$R/usr
# Install as a packager does: DESTDIR, and a prefix other than the configured one.
DESTDIR=$R cmake --install "$NBD_BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -3 "$T/install.log")"
cp "$NBD_BUILD/install_manifest.txt" "$T/manifest"
for f in bin/nbdkit bin/nbdcopy bin/nbdinfo bin/nbddump bin/nbdfuse share/man/man1/nbdfuse.1 lib/libnbdkitpp.so.0 include/nbdkit-plugin.h \
         include/nbdkit-filter.h include/nbdkit++/nbd/plugin.h include/nbdkit++/nbd/client.h \
         lib/pkgconfig/nbdkit.pc lib/pkgconfig/nbdkitpp.pc lib/cmake/nbdkitpp/nbdkitppConfig.cmake \
         share/man/man1/nbdkit.1 share/man/man1/nbdkit-memory-plugin.1 share/man/man1/nbdkit-cache-filter.1 \
         share/man/man1/nbdcopy.1 share/man/man1/nbdsh.1 share/man/man3/nbdkitpp-plugin.3 bin/nbdsh \
         share/bash-completion/completions/nbdkit share/bash-completion/completions/nbdinfo \
         lib/libnbd.so.0 include/libnbd.h lib/pkgconfig/libnbd.pc share/man/man3/nbdkitpp-libnbd.3; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done
[ -d "$P/lib/nbdkit/plugins" ] && [ -d "$P/lib/nbdkit/filters" ] || fail "plugin/filter directories not made"
grep -qx "/usr/bin/nbdkit" "$T/manifest" || fail "the manifest does not list bin/nbdkit"

# The Python module and nbdsh, from the installed tree.
PYDIR=$(ls -d "$P"/lib/python3*/dist-packages)
[ -e "$PYDIR/nbd.py" ] && ls "$PYDIR"/_nbd*.so >/dev/null || fail "the Python module is not installed"
out=$("$P/bin/nbdkit" -U - memory 1M --run "$P/bin/nbdsh -u \"\$uri\" -c 'import os; print(h.get_size(), os.path.realpath(nbd.__file__))'")
expect_eq "$out" "1048576 $PYDIR/nbd.py" "installed nbdsh uses the installed module"

# The moved tree's nbdkit looks in its own plugindir, and serves.
NK=$P/bin/nbdkit
expect_contains "$($NK --dump-config)" "plugindir=$P/lib/nbdkit/plugins" "relocated plugindir"
expect_eq "$($NK -U - memory 1M --run "$P/bin/nbdinfo --size \"\$uri\"")" 1048576 "installed nbdkit + nbdinfo"
printf 'def open(r):\n    return 1\ndef get_size(h):\n    return 4096\ndef pread(h, n, o):\n    return b"p" * n\n' >"$T/p.py"
[ -e "$P/lib/nbdkit/plugins/nbdkit-python-plugin.so" ] || fail "the python plugin is not installed"
expect_eq "$($NK -U - python "$T/p.py" --run "$P/bin/nbddump -n 2 \"\$uri\"" | cut -c1-20)" "0000000000: 70 70   " "installed python plugin"

# pkg-config sees only the installed tree (Debian's nbdkit.pc must not answer).
export PKG_CONFIG_LIBDIR=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R
# (pkgconf puts the sysroot before the variables too.)
expect_eq "$(pkg-config --variable=plugindir nbdkit)" "$P/lib/nbdkit/plugins" "nbdkit.pc plugindir"
expect_eq "$(pkg-config --variable=filterdir nbdkit)" "$P/lib/nbdkit/filters" "nbdkit.pc filterdir"
grep -qx "plugindir=/usr/lib/nbdkit/plugins" "$P/lib/pkgconfig/nbdkit.pc" || fail "nbdkit.pc does not name the prefix's plugindir"
expect_contains "$(pkg-config --cflags nbdkit)" "-I$P/include" "nbdkit.pc cflags"
! pkg-config --exists libnbd-no-such-package || fail "pkg-config answers for a package not installed"

# An upstream-style C plugin, built with pkg-config, installed in plugindir, loaded by name.
gcc -std=c11 -Wall -Werror -fPIC -shared $(pkg-config --cflags nbdkit) "$NBD_SRC/tests/cabi/c_plugin.c" \
  -o "$P/lib/nbdkit/plugins/nbdkit-cdisk-plugin.so" || fail "C plugin does not build against the installed headers"
head -c 65536 /dev/urandom >"$T/pattern"
$NK -U - cdisk 1M --run "$P/bin/nbdcopy $T/pattern \"\$uri\" && $P/bin/nbdcopy \"\$uri\" $T/back" ||
  fail "C plugin by name: copy failed"
expect_eq "$(head -c 65536 "$T/back" | md5sum)" "$(md5sum <"$T/pattern")" "C plugin found by name in plugindir"
expect_fail_line 1 "unknown plugin 'cdisk-nope'" "$NK" -U - cdisk-nope

# A sanitizer build installs a sanitized libnbdkitpp: its clients must be built the same way.
SAN=$(sed -n 's/^NBD_SANITIZE:STRING=//p' "$NBD_BUILD/CMakeCache.txt")
export CXXFLAGS=${SAN:+-fsanitize=$SAN} LDFLAGS=${SAN:+-fsanitize=$SAN}

# A C++ plugin and a client, with CMake's find_package(nbdkitpp).
mkdir -p "$T/proj"
cp "$NBD_SRC/docs/examples/hello_plugin.cc" "$NBD_SRC/docs/examples/head_client.cc" "$T/proj/"
cat >"$T/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(outoftree CXX)
find_package(nbdkitpp 0.1 REQUIRED)
add_library(hello MODULE hello_plugin.cc)
target_link_libraries(hello PRIVATE nbdkitpp::plugin)
set_target_properties(hello PROPERTIES PREFIX "" OUTPUT_NAME nbdkit-hello-plugin)
add_executable(head_client head_client.cc)
target_link_libraries(head_client PRIVATE nbdkitpp::client)
file(WRITE ${CMAKE_BINARY_DIR}/plugindir.txt "${NBDKITPP_PLUGINDIR}")
CM
(cd "$T/proj" && cmake -S . -B b -DCMAKE_PREFIX_PATH="$P" >"$T/cmake.log" 2>&1 && cmake --build b >>"$T/cmake.log" 2>&1) ||
  fail "out-of-tree CMake project does not build: $(tail -5 "$T/cmake.log")"
expect_eq "$(cat "$T/proj/b/plugindir.txt")" "$P/lib/nbdkit/plugins" "NBDKITPP_PLUGINDIR"
cp "$T/proj/b/nbdkit-hello-plugin.so" "$P/lib/nbdkit/plugins/"
export LD_LIBRARY_PATH=$P/lib
out=$($NK -U - hello hi --run "$T/proj/b/head_client \"\$uri\" 9")
expect_eq "$out" "size=1048576
hi hello" "C++ plugin by name + CMake-built client"
# The client's errors come back as one line.
expect_fail_line 1 "head_client:" "$T/proj/b/head_client" "nbd+unix:///?socket=$T/none.sock"

# The same client with pkg-config.
g++ -std=c++20 $CXXFLAGS "$NBD_SRC/docs/examples/head_client.cc" $(pkg-config --cflags --libs nbdkitpp) -o "$T/head2" ||
  fail "client does not build with pkg-config nbdkitpp"
out=$($NK -U - memory 1M --run "$P/bin/nbdcopy $T/pattern \"\$uri\" && $T/head2 \"\$uri\" 0")
expect_eq "$out" "size=1048576" "pkg-config-built client"
# A libnbd program built with pkg-config libnbd runs on the installed libnbd.so.0.
gcc -std=c11 -Wall -Werror "$NBD_SRC/bindings/c/examples/check.c" $(pkg-config --cflags --libs libnbd) -o "$T/check" ||
  fail "a libnbd program does not build with pkg-config libnbd"
out=$($NK -U - memory 1M --run "LD_LIBRARY_PATH=$P/lib $T/check \"\$uri\"" 2>&1) || fail "libnbd-check on the installed libnbd: $out"
expect_contains "$out" "aio_pread x8: completed 8, freed 8, error 0, data same" "libnbd program on the installed library"
expect_contains "$(LD_LIBRARY_PATH=$P/lib ldd "$T/check")" "$P/lib/libnbd.so.0" "the program loads the installed libnbd"
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH

# Man pages: ASCII roff that groff reads without complaint, and man renders them.
for m in "$P"/share/man/man*/*; do
  LC_ALL=C grep -q '[^ -~	]' "$m" && fail "$m has non-ASCII bytes"
  w=$(groff -man -Tutf8 -ww -z -t "$m" 2>&1 | grep -v "cannot adjust line\|can't break line")
  [ -z "$w" ] || fail "groff warns on $m: $w"
done
page=$(MANWIDTH=80 man -l "$P/share/man/man1/nbdkit-memory-plugin.1" 2>&1 | tr -s " ")
expect_contains "$page" "nbdkit-memory-plugin - a RAM disk" "man -l NAME line"
expect_contains "$page" "nbdkit memory [size=]SIZE" "man -l synopsis"
expect_contains "$(MANWIDTH=80 man -l "$P/share/man/man1/nbdkit.1" 2>/dev/null)" "NBDKIT(1)" "nbdkit(1) title"
expect_contains "$($NK --help)" "man nbdkit-PLUGIN-plugin" "nbdkit --help points at the man pages"

# bash completion, driven as bash does (COMP_WORDS), with the installed commands first on PATH.
cat >"$T/comp.sh" <<CS
source /usr/share/bash-completion/bash_completion
source $P/share/bash-completion/completions/nbdkit
PATH=$P/bin:\$PATH
comp() { COMP_WORDS=("\$@"); COMP_CWORD=\$((\${#COMP_WORDS[@]}-1)); COMP_LINE="\$*"; COMP_POINT=\${#COMP_LINE}
  COMPREPLY=(); local f=_nbdkitpp_nbdkit; [ "\$1" != nbdkit ] && f=_nbdkitpp_tool
  \$f "\$1" "\${COMP_WORDS[-1]}" "\${COMP_WORDS[-2]}"; echo "\${COMPREPLY[*]}"; }
comp nbdkit mem
comp nbdkit --filter=cache
comp nbdkit --exit-w
comp nbdkit memory al
comp nbdkit --filter=cache memory cache-ma
comp nbdkit hel
comp nbdkit zzz
comp nbdcopy --pro
comp nbdinfo --ma
comp nbdsh --base
CS
expect_eq "$(bash "$T/comp.sh" 2>&1)" "memory
cache cacheextents
--exit-with-parent
allocator=
cache-max-size=
hello

--progress
--map
--base-allocation" "bash completion"

# make uninstall's script removes every file listed, and our directories, nothing else.
touch "$P/bin/someone-elses"
DESTDIR=$R cmake -DMANIFEST="$T/manifest" -P "$NBD_BUILD/cmake/Uninstall.cmake" >"$T/uninstall.log" 2>&1 || fail "uninstall failed"
rm "$P/lib/nbdkit/plugins/nbdkit-cdisk-plugin.so" "$P/lib/nbdkit/plugins/nbdkit-hello-plugin.so" 2>/dev/null
DESTDIR=$R cmake -DMANIFEST="$T/manifest" -P "$NBD_BUILD/cmake/Uninstall.cmake" >>"$T/uninstall.log" 2>&1 || fail "second uninstall failed"
left=$(cd "$R" && find . -type f | sort | tr '\n' ' ')
expect_eq "$left" "./usr/bin/someone-elses " "files left after uninstall"
[ -e "$PYDIR/nbd.py" ] && fail "uninstall left the Python module"
for d in include/nbdkit++ lib/cmake/nbdkitpp lib/nbdkit share/doc/nbdkitpp; do
  [ -e "$P/$d" ] && fail "uninstall left $d"
done
[ -d "$P/bin" ] || fail "uninstall removed bin/, which is not only ours"
err=$(cmake -DMANIFEST="$T/none" -P "$NBD_BUILD/cmake/Uninstall.cmake" 2>&1) && fail "uninstall without a manifest succeeded"
expect_contains "$err" "no manifest" "uninstall without a manifest"
pass
