// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: NBD URI parsing (nbd://, nbds://, nbd+unix://, nbd+vsock://, query parameters,
// percent-decoding, IPv6 literals). Whatever parses must be self-consistent: a Unix URI names a
// socket, a TCP one a host.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nbd/client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  (void)nbd::client::is_uri(s);
  auto u = nbd::client::parse_uri(s);
  if (u && u->transport == nbd::client::Uri::Transport::Unix && u->socket.empty()) abort();
  return 0;
}
