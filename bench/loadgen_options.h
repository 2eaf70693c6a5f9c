// SPDX-License-Identifier: BSD-3-Clause
// bench_loadgen's command line (bench/loadgen.cc): --name=value options and one NBD URI.
#pragma once

#include <cstdint>
#include <string>

namespace nbd::bench {

enum class Rw { RandRead, RandWrite, RandRw };
const char* rw_name(Rw rw);  // "randread", "randwrite", "randrw"

struct Options {
  Rw rw = Rw::RandRw;
  uint64_t bs = 4096;  // bytes per request; offsets are multiples of it
  unsigned qd = 64;    // commands in flight per connection
  unsigned connections = 1;
  unsigned threads = 0;  // after parsing: 1..connections (default: connections)
  double runtime = 5;    // seconds
  unsigned rwmix = 50;   // randrw: percent of requests that are reads (fio's rwmixread)
  uint64_t seed = 1;
  bool json = false;
  bool verify = false;  // write each connection's own blocks, read them back, compare
  std::string uri;
};

// Parses argv; on any bad argument prints one line ("bench_loadgen: --qd=x: not a number") and
// exits with status 1; --help prints the synopsis and exits with 0.
Options parse_options(int argc, char** argv);

}  // namespace nbd::bench
