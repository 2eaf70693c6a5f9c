// SPDX-License-Identifier: BSD-3-Clause
// nbd::client against Debian's nbdkit (a peer) and against our own nbdkit ($NBD_BIN/nbdkit,
// when NBD_BIN is set, as under ctest): every command with content checks, many commands in
// flight, server errors, opt mode, connect_command, socket activation, extended headers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <numeric>
#include <thread>

#include "nbd/client.h"

namespace nbd::client {
namespace {

// The servers under test: Debian's, and ours when NBD_BIN says where it is.
std::vector<std::string> servers() {
  std::vector<std::string> v = {"/usr/bin/nbdkit"};
  if (const char* bin = getenv("NBD_BIN")) v.push_back(std::string(bin) + "/nbdkit");
  return v;
}

class ClientInterop : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_EQ(access(GetParam().c_str(), X_OK), 0) << GetParam() << " was not built"; }
  std::vector<std::string> nbdkit(std::vector<std::string> args, bool stdio = true) const {
    return make_argv(GetParam(), std::move(args), stdio);
  }

 public:
  static std::vector<std::string> make_argv(const std::string& server, std::vector<std::string> args,
                                            bool stdio);
};

std::vector<std::string> ClientInterop::make_argv(const std::string& server, std::vector<std::string> args,
                                                  bool stdio) {
  std::vector<std::string> argv = {server};
  if (stdio) argv.push_back("-s");
  argv.push_back("--exit-with-parent");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::span<std::byte> as_bytes(std::vector<char>& v) { return std::as_writable_bytes(std::span(v)); }
std::span<const std::byte> as_cbytes(const std::vector<char>& v) { return std::as_bytes(std::span(v)); }

TEST_P(ClientInterop, ReadWriteZeroTrimFlushCache) {
  Handle h;
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "1M"}))) << h.get_error();
  EXPECT_EQ(*h.get_size(), 1 << 20);
  EXPECT_TRUE(*h.can_flush() && *h.can_trim() && *h.can_zero() && *h.can_fua() && *h.can_cache());
  EXPECT_FALSE(*h.is_read_only());
  EXPECT_EQ(*h.get_protocol(), "newstyle-fixed");
  EXPECT_TRUE(*h.get_structured_replies_negotiated());

  std::vector<char> w(65536), r(65536);
  for (size_t i = 0; i < w.size(); ++i) w[i] = char(i * 7 + 3);
  ASSERT_TRUE(h.pwrite(as_cbytes(w), 4096, kCmdFlagFua)) << h.get_error();
  ASSERT_TRUE(h.pread(as_bytes(r), 4096)) << h.get_error();
  EXPECT_EQ(r, w);
  ASSERT_TRUE(h.zero(8192, 8192)) << h.get_error();
  ASSERT_TRUE(h.pread(as_bytes(r), 4096));
  EXPECT_TRUE(std::all_of(r.begin() + 4096, r.begin() + 12288, [](char c) { return c == 0; }));
  EXPECT_EQ(r[4095], w[4095]);
  EXPECT_EQ(r[12288], w[12288]);
  ASSERT_TRUE(h.zero(4096, 16384, kCmdFlagNoHole | kCmdFlagFua)) << h.get_error();
  EXPECT_TRUE(*h.can_fast_zero());
  ASSERT_TRUE(h.zero(4096, 20480, kCmdFlagFastZero)) << h.get_error();
  // Strict mode: a flag that does not apply to the command is refused before sending.
  EXPECT_FALSE(h.zero(4096, 0, kCmdFlagDf));
  EXPECT_EQ(h.get_errno(), EINVAL);
  EXPECT_FALSE(h.pread(as_bytes(r), (1 << 20) - 100));  // beyond the end
  EXPECT_EQ(h.get_errno(), EINVAL);
  ASSERT_TRUE(h.pread(as_bytes(r), 4096));
  EXPECT_TRUE(std::all_of(r.begin() + 12288, r.begin() + 20480, [](char c) { return c == 0; }));
  ASSERT_TRUE(h.trim(65536, 4096)) << h.get_error();
  ASSERT_TRUE(h.flush()) << h.get_error();
  ASSERT_TRUE(h.cache(4096, 0)) << h.get_error();

  // After the trim the whole disk reads as a hole.
  uint64_t covered = 0;
  ExtentCallback cb = [&covered](std::string_view ctx, uint64_t, std::span<const Extent> es, int*) {
    EXPECT_EQ(ctx, "base:allocation");
    for (auto& e : es) {
      EXPECT_EQ(e.flags, nbd::kExtentHole | nbd::kExtentZero);
      covered += e.length;
    }
    return 0;
  };
  ASSERT_TRUE(h.block_status_64(1 << 20, 0, cb)) << h.get_error();
  EXPECT_EQ(covered, 1u << 20);
  ASSERT_TRUE(h.shutdown()) << h.get_error();
  EXPECT_TRUE(h.aio_is_closed());
}

TEST_P(ClientInterop, ManyCommandsInFlightWithCallbacks) {
  Handle h;
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "16M"}))) << h.get_error();
  constexpr int kN = 256;
  constexpr size_t kLen = 16384;
  std::vector<std::vector<char>> bufs(kN, std::vector<char>(kLen));
  int completed = 0;
  for (int i = 0; i < kN; ++i) {
    std::fill(bufs[i].begin(), bufs[i].end(), char(i));
    auto c = h.aio_pwrite(as_cbytes(bufs[i]), uint64_t(i) * kLen, [&completed](int* err) {
      EXPECT_EQ(*err, 0);
      ++completed;
      return 1;
    });
    ASSERT_TRUE(c) << h.get_error();
  }
  EXPECT_EQ(h.aio_in_flight(), size_t(kN));
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1)) << h.get_error();
  EXPECT_EQ(completed, kN);
  std::vector<Cookie> cookies;
  for (int i = 0; i < kN; ++i) {
    std::fill(bufs[i].begin(), bufs[i].end(), char(0x55));
    auto c = h.aio_pread(as_bytes(bufs[i]), uint64_t(i) * kLen);
    ASSERT_TRUE(c) << h.get_error();
    cookies.push_back(*c);
  }
  // Drive through the caller's own loop this time.
  while (h.aio_in_flight() > 0) {
    unsigned dir = h.aio_get_direction();
    if (dir & kAioDirectionWrite) {
      ASSERT_TRUE(h.aio_notify_write());
    }
    if (h.aio_in_flight() > 0) {
      ASSERT_TRUE(h.poll(-1));
    }
  }
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(*h.aio_command_completed(cookies[i]));
    EXPECT_TRUE(std::all_of(bufs[i].begin(), bufs[i].end(), [i](char c) { return c == char(i); })) << i;
  }
}

TEST_P(ClientInterop, ServerErrorsFailTheCommandNotTheHandle) {
  Handle h;
  ASSERT_TRUE(h.connect_command(
      nbdkit({"--filter=error", "memory", "1M", "error-pread=ENOSPC", "error-pread-rate=1"})))
      << h.get_error();
  std::vector<char> r(512);
  EXPECT_FALSE(h.pread(as_bytes(r), 0));
  EXPECT_EQ(h.get_errno(), ENOSPC);
  EXPECT_FALSE(h.aio_is_dead());
  std::vector<char> w(512, 'x');
  EXPECT_TRUE(h.pwrite(as_cbytes(w), 0)) << h.get_error();
}

TEST_P(ClientInterop, PatternReadsAndStructuredChunks) {
  Handle h;
  ASSERT_TRUE(h.connect_command(nbdkit({"pattern", "1M"}))) << h.get_error();
  std::vector<char> r(4096);
  uint64_t seen = 0;
  ChunkCallback cb = [&seen](std::span<const std::byte> sub, uint64_t, unsigned status, int*) {
    EXPECT_EQ(status, kReadData);
    seen += sub.size();
    return 0;
  };
  ASSERT_TRUE(h.pread_structured(as_bytes(r), 8192, cb)) << h.get_error();
  EXPECT_EQ(seen, r.size());
  for (size_t i = 0; i < r.size(); i += 8) {
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | uint8_t(r[i + k]);
    ASSERT_EQ(v, 8192 + i);
  }
  // Strict mode: read-only pattern refuses writes before sending anything.
  EXPECT_FALSE(h.pwrite(as_cbytes(r), 0));
  EXPECT_EQ(h.get_errno(), EPERM);
}

TEST_P(ClientInterop, OptModeInfoThenGo) {
  Handle h;
  ASSERT_TRUE(h.set_opt_mode(true));
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "64K"}))) << h.get_error();
  EXPECT_TRUE(h.aio_is_negotiating());
  EXPECT_FALSE(h.get_size());  // nothing known before opt_info/opt_go
  int n = 0;
  ListCallback cb = [&n](std::string_view, std::string_view) { return ++n, 0; };
  ASSERT_TRUE(h.opt_list(cb)) << h.get_error();
  EXPECT_GE(n, 1);
  ASSERT_TRUE(h.opt_info()) << h.get_error();
  EXPECT_EQ(*h.get_size(), 65536);
  EXPECT_TRUE(h.aio_is_negotiating());
  ASSERT_TRUE(h.opt_go()) << h.get_error();
  EXPECT_TRUE(h.aio_is_ready());
  EXPECT_FALSE(h.opt_go());  // not negotiating any more
}

TEST_P(ClientInterop, ShutdownWhileNegotiatingAborts) {
  Handle h;
  ASSERT_TRUE(h.set_opt_mode(true));
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "1M"}))) << h.get_error();
  ASSERT_TRUE(h.shutdown()) << h.get_error();
  EXPECT_TRUE(h.aio_is_closed());
  EXPECT_FALSE(h.opt_go());
}

TEST_P(ClientInterop, OptModeNegotiatesRepliesOnRequest) {
  Handle h;
  ASSERT_TRUE(h.set_opt_mode(true));
  ASSERT_TRUE(h.set_request_structured_replies(false));
  ASSERT_TRUE(h.set_request_extended_headers(false));
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_command(nbdkit({"data", "@32768 1"}))) << h.get_error();
  EXPECT_FALSE(*h.get_structured_replies_negotiated());
  auto ext = h.opt_extended_headers();
  ASSERT_TRUE(ext) << h.get_error();
  EXPECT_EQ(*ext, GetParam().find("/usr/bin/") == std::string::npos);
  auto sr = h.opt_structured_reply();
  ASSERT_TRUE(sr) << h.get_error();
  EXPECT_TRUE(*h.get_structured_replies_negotiated());
  std::vector<std::string> ctx;
  ContextCallback cb = [&ctx](std::string_view n) { return ctx.emplace_back(n), 0; };
  ASSERT_TRUE(h.opt_set_meta_context(cb)) << h.get_error();
  EXPECT_EQ(ctx, std::vector<std::string>{"base:allocation"});
  ASSERT_TRUE(h.opt_go()) << h.get_error();
  // The classic 32-bit block status callback: (length, flags) pairs.
  std::vector<uint32_t> pairs;
  Extent32Callback ecb = [&pairs](std::string_view, uint64_t, std::span<const uint32_t> e, int*) {
    pairs.assign(e.begin(), e.end());
    return 0;
  };
  ASSERT_TRUE(h.block_status(32769, 0, ecb)) << h.get_error();
  ASSERT_GE(pairs.size(), 4u);
  EXPECT_EQ(pairs[0], 32768u);
  EXPECT_EQ(pairs[1], nbd::kExtentHole | nbd::kExtentZero);
  EXPECT_EQ(pairs[3], 0u);  // the byte at 32768 is data
}

// Children of this process, from /proc (the handle must reap what it started).
size_t child_count() {
  std::string path = "/proc/self/task/" + std::to_string(getpid()) + "/children";
  FILE* f = fopen(path.c_str(), "r");
  if (!f) return 0;
  size_t n = 0;
  int pid;
  while (fscanf(f, "%d", &pid) == 1) ++n;
  fclose(f);
  return n;
}

TEST_P(ClientInterop, ServersStartedByTheHandleAreReaped) {
  size_t before = child_count();
  {
    Handle a, b;
    ASSERT_TRUE(a.connect_command(nbdkit({"memory", "1M"}))) << a.get_error();
    ASSERT_TRUE(b.connect_systemd_socket_activation(nbdkit({"memory", "1M"}, false))) << b.get_error();
    EXPECT_EQ(child_count(), before + 2);
  }
  EXPECT_EQ(child_count(), before);
}

// The exportname filter is Debian's only (so far).
TEST(ClientInteropDebian, OptModeListsAndChoosesExports) {
  Handle h;
  ASSERT_TRUE(h.set_opt_mode(true));
  ASSERT_TRUE(h.set_full_info(true));
  ASSERT_TRUE(h.connect_command(ClientInterop::make_argv(
      "/usr/bin/nbdkit",
      {"--filter=exportname", "memory", "64K", "exportname=alpha", "exportname=beta", "exportdesc=fixed:desc",
       "exportname-strict=true", "exportname-list=explicit"},
      true)))
      << h.get_error();
  EXPECT_TRUE(h.aio_is_negotiating());
  std::vector<std::string> names;
  ListCallback cb = [&names](std::string_view n, std::string_view) {
    names.emplace_back(n);
    return 0;
  };
  auto n = h.opt_list(cb);
  ASSERT_TRUE(n) << h.get_error();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta"}));
  ASSERT_TRUE(h.set_export_name("nope"));
  EXPECT_FALSE(h.opt_go());  // unknown export: an error, still negotiating
  EXPECT_TRUE(h.aio_is_negotiating());
  ASSERT_TRUE(h.set_export_name("beta"));
  ASSERT_TRUE(h.opt_info()) << h.get_error();
  EXPECT_EQ(*h.get_export_description(), "desc");
  ASSERT_TRUE(h.opt_go()) << h.get_error();
  EXPECT_TRUE(h.aio_is_ready());
  EXPECT_EQ(*h.get_canonical_export_name(), "beta");
}

TEST_P(ClientInterop, SocketActivationAndSecondConnectionByUri) {
  Handle h;
  ASSERT_TRUE(h.connect_systemd_socket_activation(nbdkit({"memory", "1M"}, false))) << h.get_error();
  auto uri = h.get_uri();
  ASSERT_TRUE(uri) << h.get_error();
  EXPECT_EQ(uri->rfind("nbd+unix:///?socket=", 0), 0u) << *uri;
  std::vector<char> w(1024, 'Q'), r(1024);
  ASSERT_TRUE(h.pwrite(as_cbytes(w), 2048));
  Handle h2;
  ASSERT_TRUE(h2.connect_uri(*uri)) << h2.get_error();
  ASSERT_TRUE(h2.pread(as_bytes(r), 2048)) << h2.get_error();
  EXPECT_EQ(r, w);
}

TEST_P(ClientInterop, AsyncConnectDrivenByTheCaller) {
  Handle h;
  ASSERT_TRUE(h.aio_connect_systemd_socket_activation(nbdkit({"memory", "1M"}, false))) << h.get_error();
  Handle h2;
  int rounds = 0;
  while (!h.aio_is_ready()) {
    ASSERT_FALSE(h.aio_is_dead()) << h.get_error();
    ASSERT_TRUE(h.aio_is_connecting());
    ASSERT_GE(h.aio_get_fd(), 0);
    ASSERT_NE(h.aio_get_direction(), 0u);
    ASSERT_TRUE(h.poll(-1)) << h.get_error();
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
  EXPECT_EQ(*h.get_size(), 1 << 20);
  ASSERT_TRUE(h2.aio_connect_uri(*h.get_uri())) << h2.get_error();
  while (h2.aio_is_connecting()) ASSERT_TRUE(h2.poll(-1)) << h2.get_error();
  EXPECT_TRUE(h2.aio_is_ready());
}

TEST_P(ClientInterop, MissingCommandFailsCleanly) {
  Handle h;
  EXPECT_FALSE(h.connect_command({"/nonexistent/nbd-server"}));
  EXPECT_TRUE(h.aio_is_dead());
  Handle h2;
  EXPECT_FALSE(h2.connect_command({}));
  EXPECT_EQ(h2.get_errno(), EINVAL);
}

TEST_P(ClientInterop, ExtendedHeadersWhenTheServerHasThem) {
  Handle h;
  ASSERT_TRUE(h.add_meta_context("base:allocation"));
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "8G"}))) << h.get_error();
  bool ext = *h.get_extended_headers_negotiated();
  // Debian's nbdkit 1.32 predates extended headers; ours has them.
  EXPECT_EQ(ext, GetParam().find("/usr/bin/") == std::string::npos);
  std::vector<char> w(4096, 'E'), r(4096);
  ASSERT_TRUE(h.pwrite(as_cbytes(w), (uint64_t(5) << 30))) << h.get_error();
  ASSERT_TRUE(h.pread(as_bytes(r), (uint64_t(5) << 30))) << h.get_error();
  EXPECT_EQ(r, w);
  // One request beyond 4G is only possible with extended headers.
  auto z = h.zero(uint64_t(6) << 30, 0);
  EXPECT_EQ(bool(z), ext) << h.get_error();
  uint64_t covered = 0;
  ExtentCallback cb = [&covered](std::string_view, uint64_t, std::span<const Extent> es, int*) {
    for (auto& e : es) covered += e.length;
    return 0;
  };
  ASSERT_TRUE(h.block_status_64(uint64_t(1) << 30, 0, cb)) << h.get_error();
  EXPECT_GT(covered, 0u);
  Handle h2;
  ASSERT_TRUE(h2.set_request_extended_headers(false));
  ASSERT_TRUE(h2.connect_command(nbdkit({"memory", "1M"}))) << h2.get_error();
  EXPECT_FALSE(*h2.get_extended_headers_negotiated());
  EXPECT_TRUE(*h2.get_structured_replies_negotiated());
}

// libnbd's handles are thread-safe, and so are ours: blocking calls from several threads, and a
// thread driving its own aio commands, all on one handle. Each thread writes and reads back
// its own pattern; every tenth round it also makes a call strict mode refuses, and that call's
// own Error says so whatever the other threads do. Under `make tsan` this is also a race test.
TEST_P(ClientInterop, OneHandleFromManyThreads) {
  Handle h;
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "8M"}))) << h.get_error();
  constexpr int kThreads = 4, kRounds = 60;
  constexpr size_t kLen = 65536;
  std::atomic<int> bad_content{0}, unexpected_errors{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<char> w(kLen), r(kLen);
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t off = uint64_t(t) * (1 << 20) + uint64_t(i % 16) * kLen;
        for (size_t k = 0; k < kLen; ++k) w[k] = char(t * 31 + i * 7 + int(k % 251));
        if (!h.pwrite(as_cbytes(w), off) || !h.pread(as_bytes(r), off)) ++unexpected_errors;
        if (r != w) ++bad_content;
        if (i % 10 == 0) {
          Status st = h.pread(as_bytes(r), (8 << 20) - 100);  // beyond the end
          if (!st && st.error().errnum == EINVAL && st.error().message.find("nbd_pread") != std::string::npos)
            ++refused;
        }
      }
    });
  }
  // A fifth thread drives its own aio commands, polling with a timeout: another thread's call
  // may retire them first.
  threads.emplace_back([&] {
    std::vector<char> r(4096);
    for (int i = 0; i < kRounds; ++i) {
      auto c = h.aio_pread(as_bytes(r), uint64_t(i % 4) * (1 << 20));
      if (!c) {
        ++unexpected_errors;
        continue;
      }
      for (;;) {
        auto done = h.aio_command_completed(*c);
        if (!done) {
          ++unexpected_errors;
          break;
        }
        if (*done) break;
        if (!h.poll(10)) {
          ++unexpected_errors;
          break;
        }
      }
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected_errors.load(), 0);
  EXPECT_EQ(bad_content.load(), 0);
  EXPECT_EQ(refused.load(), kThreads * (kRounds / 10));
  EXPECT_EQ(h.aio_in_flight(), 0u);
}

// The negative case: a shutdown from one thread while others are mid-loop. Every other thread
// gets an error from its next call, none hangs or crashes, and nothing is left in flight.
TEST_P(ClientInterop, ShutdownFromAnotherThreadFailsTheRest) {
  Handle h;
  ASSERT_TRUE(h.connect_command(nbdkit({"memory", "4M"}))) << h.get_error();
  std::atomic<int> rounds{0}, stopped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::vector<char> buf(16384, char(t));
      for (;;) {
        if (!h.pwrite(as_cbytes(buf), uint64_t(t) * 16384) || !h.pread(as_bytes(buf), uint64_t(t) * 16384)) {
          if (!h.aio_is_ready()) ++stopped;
          return;
        }
        ++rounds;
      }
    });
  }
  while (rounds.load() < 30) std::this_thread::yield();
  EXPECT_TRUE(h.shutdown()) << h.get_error();
  for (auto& th : threads) th.join();
  EXPECT_EQ(stopped.load(), 3);
  EXPECT_TRUE(h.aio_is_closed() || h.aio_is_dead()) << h.state_name();
  EXPECT_EQ(h.aio_in_flight(), 0u);
  std::vector<char> buf(512);
  Status st = h.pread(as_bytes(buf), 0);
  ASSERT_FALSE(st);
  EXPECT_EQ(h.get_error(), st.error().message);  // this thread's call, this thread's copy
}

INSTANTIATE_TEST_SUITE_P(Servers, ClientInterop, ::testing::ValuesIn(servers()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.find("/usr/bin/") == 0 ? std::string("Debian")
                                                                 : std::string("Ours");
                         });

}  // namespace
}  // namespace nbd::client
