# SPDX-License-Identifier: BSD-3-Clause
# The README's commands. `make run`: install, build, serve a demo export end to end.
# `make check`: install, build, run every test; the last line is ctest's summary.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: build deps run check clean asan tsan fuzz soak install uninstall

build:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

deps:
	bash scripts/install-deps.sh

run: deps
	$(MAKE) --no-print-directory build
	bash scripts/demo.sh $(BUILD)

check: deps
	$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Every unit test and the server's shell tests under AddressSanitizer + UBSan (leaks, overflows), in a build of their own.
asan: deps
	@test -f build-asan/build.ninja || cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNBD_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L asan

# Every test under ThreadSanitizer, in a build of its own. Reports go to files (a server's stderr
# is often a test's log, not ctest's), and any report fails the target.
tsan: deps
	@test -f build-tsan/build.ninja || cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNBD_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	cd build-tsan && TSAN_OPTIONS="halt_on_error=0 suppressions=$(CURDIR)/tsan.supp log_path=$(CURDIR)/build-tsan/reports/tsan" ctest --output-on-failure -j $(JOBS) --timeout 600
	@if ls build-tsan/reports | grep -q .; then grep -h -A30 "^WARNING: ThreadSanitizer" build-tsan/reports/* | head -200; \
	  echo "ThreadSanitizer reported problems: build-tsan/reports/"; exit 1; fi

# Every libFuzzer target (fuzz/README.md) for FUZZ_SECONDS each, built by clang with ASan + UBSan
# in build-fuzz/. Findings (crash, leak, hang, runaway memory) fail the target.
FUZZ_SECONDS ?= 60
fuzz: deps
	@test -f build-fuzz/build.ninja || CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DNBD_FUZZ=ON -DNBD_TESTS=OFF -DNBD_SANITIZE=address,undefined
	cmake --build build-fuzz -j $(JOBS) --target fuzz_protocol fuzz_server fuzz_client fuzz_uri fuzz_data fuzz_parse fuzz_decoders
	bash fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# SOAK_SECONDS (default 600) of mixed load (fio verify, nbdcopy round trips, connection churn,
# bad clients) against the ASan build's nbdkit; bytes, fds, threads and memory checked at the end.
SOAK_SECONDS ?= 600
soak: deps
	@test -f build-asan/build.ninja || cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNBD_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS) --target nbdkit nbdcopy nbdinfo
	bash tests/soak/soak.sh build-asan $(SOAK_SECONDS)

# Install into $(DESTDIR)$(PREFIX) as packagers do (binaries, plugin/filter directories, headers,
# libnbdkitpp, pkg-config and CMake files, man pages, bash completion). The build is configured
# for PREFIX first, so the paths nbdkit and nbdkit.pc carry are the installed ones. The list of
# what was installed is kept in $(BUILD)/installed-files.txt for `make uninstall`.
PREFIX ?= /usr/local
install:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_INSTALL_PREFIX=$(PREFIX) -UNBD_PLUGINDIR -UNBD_FILTERDIR >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)
	cp $(BUILD)/install_manifest.txt $(BUILD)/installed-files.txt

uninstall:
	@test -f $(BUILD)/installed-files.txt || { echo "make uninstall: nothing was installed from $(BUILD) ($(BUILD)/installed-files.txt is missing)" >&2; exit 1; }
	DESTDIR=$(DESTDIR) cmake -DMANIFEST=$(BUILD)/installed-files.txt -P $(BUILD)/cmake/Uninstall.cmake
	rm -f $(BUILD)/installed-files.txt

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
