// SPDX-License-Identifier: BSD-3-Clause
// An out-of-tree client of the installed C++ client library (libnbdkitpp, <nbd/client.h>):
// prints an export's size and its first N bytes (default 16) as text.
//   g++ -std=c++20 head_client.cc $(pkg-config --cflags --libs nbdkitpp) -o head_client
//   head_client URI [N]
#include <nbd/client.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: head_client URI [N]\n");
    return 1;
  }
  nbd::client::Handle h;
  if (auto st = h.connect_uri(argv[1]); !st) {
    std::fprintf(stderr, "head_client: %s\n", st.error().message.c_str());
    return 1;
  }
  auto size = h.get_size();
  if (!size) {
    std::fprintf(stderr, "head_client: %s\n", size.error().message.c_str());
    return 1;
  }
  int64_t n = argc == 3 ? std::atoll(argv[2]) : 16;
  if (n > *size) n = *size;
  std::vector<std::byte> buf(static_cast<size_t>(n));
  if (auto st = n > 0 ? h.pread(buf, 0) : nbd::ok(); !st) {
    std::fprintf(stderr, "head_client: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("size=%lld\n", static_cast<long long>(*size));
  std::fwrite(buf.data(), 1, buf.size(), stdout);
  std::printf("\n");
  (void)h.shutdown();
  return 0;
}
