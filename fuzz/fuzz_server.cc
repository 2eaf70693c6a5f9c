// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: a whole server Session (handshake, option parser, request decoder, transmission)
// fed arbitrary client bytes over a socketpair, in-process, over a 64 KiB fake disk.
// input[0] picks the server's options (bit 0 read-only, bit 1 oldstyle, bit 2 one thread);
// the rest is what the client sends, after which it hangs up. The server's replies are read
// and thrown away. Any crash, sanitizer report or hang (libFuzzer's -timeout) is a finding.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "fixtures/fake_disk.h"
#include "server/backend.h"
#include "server/options.h"
#include "server/registry.h"
#include "server/session.h"

// The session never looks a plugin up by name: an empty built-in table (the nbdkit binary's is
// generated from every plugin folder, which this target does not link).
namespace nbd::server {
std::span<const PluginInfo* const> builtin_plugins() { return {}; }
std::span<const FilterInfo* const> builtin_filters() { return {}; }
}  // namespace nbd::server

namespace {

using nbd::testing::FakeDisk;

constexpr uint64_t kDiskSize = 64 * 1024;  // small: the fake disk keeps a per-byte hole map

class DiskPlugin final : public nbd::Plugin {
 public:
  explicit DiskPlugin(FakeDisk& d) : d_(d) {}
  nbd::Result<std::unique_ptr<nbd::Connection>> open(const nbd::OpenParams&) override { return d_.open(); }

 private:
  FakeDisk& d_;
};

const nbd::PluginInfo kInfo{
    .name = "fuzz", .description = "", .magic_config_key = "", .params = {}, .factory = nullptr};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  signal(SIGPIPE, SIG_IGN);
  uint8_t config = data[0];
  ++data;
  --size;

  FakeDisk disk(kDiskSize);
  disk.allocate(0, kDiskSize / 2);  // half data, half hole: block status has two extents
  nbd::server::Backend backend(
      kInfo, std::make_unique<DiskPlugin>(disk),
      std::vector<std::pair<const nbd::FilterInfo*, std::unique_ptr<nbd::Filter>>>{});
  nbd::server::Options opts;
  opts.readonly = config & 1;
  opts.oldstyle = config & 2;
  opts.threads = (config & 4) ? 1 : 4;
  opts.timeout_ns = 5'000'000'000;  // a stuck handshake ends the run rather than hanging it
  nbd::server::ServerContext ctx(backend, opts, nbd::ThreadModel::Parallel);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  int client = sv[0], server = sv[1];
  std::thread session([&] {
    nbd::server::Session(ctx, server, server, 1).run();
    ::shutdown(server, SHUT_RDWR);
  });
  // Drain the replies while writing, so neither side blocks on a full socket buffer.
  std::thread drain([&] {
    char buf[65536];
    while (::read(client, buf, sizeof buf) > 0) {
    }
  });
  for (size_t off = 0; off < size;) {
    ssize_t n = ::write(client, data + off, size - off);
    if (n <= 0) break;  // the server hung up: the rest is never read
    off += size_t(n);
  }
  ::shutdown(client, SHUT_WR);
  session.join();
  drain.join();
  ::close(client);
  ::close(server);
  return 0;
}
