#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs (idempotently) everything nbdkit++ needs to build and test on Debian 12, as root.
# Build tools and libraries first, then the real peers the tests start (see shared/RECIPES.md).
set -euo pipefail

pkgs=(
  # build
  build-essential cmake ninja-build pkg-config libgtest-dev libgmock-dev clang-format
  ccache  # every clone shares one compiler cache (CMakeLists.txt)
  clang libclang-rt-14-dev  # make fuzz: libFuzzer targets (fuzz/)
  libgnutls28-dev liblzma-dev zlib1g-dev libbz2-dev bzip2
  libcurl4-gnutls-dev  # curl plugin
  libssh-dev  # ssh plugin
  libzstd-dev  # qcow2dec filter: zstd-compressed clusters
  libext2fs-dev  # ext2 filter
  libtorrent-rasterbar-dev  # torrent plugin
  libfuse3-dev fuse3  # nbdfuse (tools/nbdfuse); fusermount3 unmounts it in tests
  pybind11-dev python3-dev python3-pytest  # the Python module nbd and nbdsh (bindings/python), its tests
  # peers used by tests and bench/
  nbdkit nbdkit-plugin-dev libnbd-bin python3-libnbd qemu-utils fio  # -dev: example1-3 .so (tests/cabi)
  nbdkit-plugin-python  # the python plugin's reference: the same script, the same bytes
  golang-go  # the Go bindings (bindings/go), built offline by tests/interop/go_client.sh
  libnbd-dev  # libnbd.h and -lnbd: tests/interop/libnbd_abi.sh builds one program against Debian's libnbd and ours
  e2fsprogs xorriso genisoimage mtools fdisk gdisk dosfstools p7zip-full
  gnutls-bin socat xz-utils coreutils procps bsdextrautils file bc time python3
  qemu-system-x86  # data plugin test boots a boot sector written in the data language
  gddrescue  # ddrescue filter test: mapfiles written by ddrescue and ddrescuelog
  nginx curl  # curl plugin tests: a real HTTP(S) server with Range, auth and redirects
  apache2  # curl plugin tests: mod_dav takes PUT with Content-Range, so writes land
  openssh-server openssh-client  # ssh plugin tests: a real sshd on a spare port, sftp as the bench ceiling
  python3-libtorrent mktorrent opentracker aria2  # torrent plugin tests: a local swarm (seeder, tracker, a non-libtorrent peer)
  man-db groff-base  # man pages built from the READMEs are rendered by the install test
  bash-completion  # the completion scripts are loaded and exercised by the install test
  librsvg2-bin  # nbdinfo --map --svg: the test renders the picture (rsvg-convert) and checks pixels
  util-linux-extra  # fincore: nbdcopy test checks how much of a copied file stays in the page cache
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
