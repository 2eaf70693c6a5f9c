# SPDX-License-Identifier: BSD-3-Clause
# The README's commands. `make run`: install, build, serve a demo export end to end.
# `make check`: install, build, run every test; the last line is ctest's summary.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: build deps run check clean asan

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

# The server's tests under AddressSanitizer + UBSan (leaks, overflows) in a build of their own.
asan: deps
	@test -f build-asan/build.ninja || cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNBD_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L asan

clean:
	rm -rf $(BUILD) build-asan
