// SPDX-License-Identifier: BSD-3-Clause
// Runs a fuzz target on files, without libFuzzer: how `make check` (built with g++, under ASan
// in CI) replays the seed corpus and every input a fuzzer once crashed on. Arguments are files or
// directories (each file in them, in name order); `--live CONFIG URI` runs a target's live mode. Exit 0 when
// every input ran, 1 when none was found.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// A target may also run against a real peer (fuzz_client: `--live CONFIG URI`).
extern "C" int fuzz_live(uint8_t config, const char* uri) __attribute__((weak));

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc == 4 && std::string_view(argv[1]) == "--live" && fuzz_live)
    return fuzz_live(uint8_t(std::strtoul(argv[2], nullptr, 0)), argv[3]);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::is_regular_file(p)) {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "%s: no inputs found\n", argv[0]);
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("%zu inputs ran without a finding\n", files.size());
  return 0;
}
