// SPDX-License-Identifier: BSD-3-Clause
// The client state machine against random server bytes (seeded, so failures reproduce):
// every call returns, nothing crashes, and errors carry a message.
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "client/fake_server_for_test.h"

namespace nbd::client {
namespace {

using namespace nbd::protocol;
using namespace nbd::client::testing;

// Random replies (often with a valid magic and cookie, so the parser goes deep): every call
// returns, nothing crashes, and the handle ends up either fine or dead with a message.
TEST(StateTest, RandomRepliesNeverCrashOrHang) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 200; ++iter) {
    SCOPED_TRACE(iter);
    uint32_t seed = rng();
    FakeServer server([seed](FakeServer& s) {
      std::mt19937 r(seed);
      s.newstyle(1 << 20, kFlagSendFlush);
      Request a = s.request();
      Bytes out;
      for (int k = 0, n = int(r() % 4) + 1; k < n; ++k) {
        Bytes b(kStructuredReplySize);
        uint16_t type = std::array<uint16_t, 6>{0, 1, 2, 5, 32769, 77}[r() % 6];
        uint32_t len = r() % 3 ? r() % 40 : r();
        encode_chunk_header(b.data(), false, uint16_t(r() % 2), type, r() % 4 ? a.cookie : r(), 0, len);
        if (r() % 5 == 0) b[r() % b.size()] = std::byte(r());
        for (uint32_t i = 0, m = std::min<uint32_t>(len, 64); i < m; ++i)
          b.push_back(std::byte(r() % 3 ? 0 : r()));
        out.insert(out.end(), b.begin(), b.end());
      }
      s.send(out);
      s.hangup();
    });
    Handle h;
    ASSERT_TRUE(h.add_meta_context("base:allocation"));
    ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
    char buf[32];
    Status st = h.pread(std::as_writable_bytes(std::span(buf)), 0);
    if (!st) {
      EXPECT_FALSE(h.get_error().empty());
    }
    // The server hung up: whatever happened before, the next command fails, and says why.
    EXPECT_FALSE(h.flush());
    EXPECT_FALSE(h.get_error().empty());
  }
}

TEST(StateTest, RandomOptionRepliesNeverCrashOrHang) {
  std::mt19937 rng(54321);
  for (int iter = 0; iter < 200; ++iter) {
    SCOPED_TRACE(iter);
    uint32_t seed = rng();
    FakeServer server([seed](FakeServer& s) {
      std::mt19937 r(seed);
      s.send(encode_newstyle_handshake(kFlagFixedNewstyle | kFlagNoZeroes));
      s.recv(4);
      Bytes out;
      const uint32_t types[] = {kRepAck, kRepServer, kRepInfo, kRepMetaContext, kRepErrUnsup, 77};
      const uint32_t opts[] = {5, 6, 7, 8, 9, 10, 11};
      for (int k = 0, n = int(r() % 6) + 1; k < n; ++k) {
        Bytes payload(r() % 3 ? r() % 20 : 0);
        for (auto& b : payload) b = std::byte(r() % 4 ? 0 : r());
        encode_option_reply(out, opts[r() % 7], types[r() % 6], payload);
        if (r() % 6 == 0) out[r() % out.size()] = std::byte(r());
      }
      s.send(out);
      s.hangup();
    });
    Handle h;
    ASSERT_TRUE(h.add_meta_context("base:allocation"));
    ASSERT_TRUE(h.set_full_info(true));
    Status st = h.connect_socket(server.client_fd);
    if (!st) {
      EXPECT_FALSE(h.get_error().empty());
      EXPECT_TRUE(h.aio_is_dead());
    }
  }
}

}  // namespace
}  // namespace nbd::client
