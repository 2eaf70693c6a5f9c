// SPDX-License-Identifier: BSD-3-Clause
// Callbacks kept in the command record: InlineCallback's copies and destruction, and the
// command letting go of its callbacks (and what they captured) when it retires.
#include <gtest/gtest.h>

#include <memory>

#include "client/fake_server_for_test.h"
#include "nbd/client.h"

namespace nbd::client {
namespace {

using namespace nbd::protocol;
using namespace nbd::client::testing;

TEST(CallbackTest, InlineCallbackCopiesAndDestroysItsCapture) {
  auto state = std::make_shared<int>(41);
  {
    CompletionCallback a = [state](int* err) { return *state + *err; };
    EXPECT_EQ(state.use_count(), 2);
    CompletionCallback b = a;
    EXPECT_EQ(state.use_count(), 3);
    int e = 1;
    EXPECT_EQ(b(&e), 42);
    a = nullptr;
    EXPECT_FALSE(a);
    EXPECT_EQ(state.use_count(), 2);
    a = b;
    EXPECT_EQ(a(&e), 42);
  }
  EXPECT_EQ(state.use_count(), 1);
  CompletionCallback empty, from_null_pointer = static_cast<int (*)(int*)>(nullptr);
  EXPECT_FALSE(empty);
  EXPECT_FALSE(from_null_pointer);
  CompletionCallback from_pointer = +[](int* err) { return *err; };
  int e = 7;
  EXPECT_EQ(from_pointer(&e), 7);
}

TEST(CallbackTest, RetiredCommandReleasesItsCallbacks) {
  FakeServer server([](FakeServer& s) {
    s.newstyle(1 << 20, kFlagSendFlush);
    Request r = s.request();
    s.chunk(r.cookie, kReplyFlagDone, kReplyTypeOffsetData, data_payload(r.offset, bytes("abcd")));
    r = s.request();
    s.simple_reply(r.cookie, 0);
  });
  Handle h;
  ASSERT_TRUE(h.connect_socket(server.client_fd)) << h.get_error();
  auto state = std::make_shared<int>(0);
  char buf[4];
  ChunkCallback chunk = [state](std::span<const std::byte> sub, uint64_t, unsigned status, int*) {
    if (status == kReadData) *state += int(sub.size());
    return 0;
  };
  ASSERT_TRUE(h.aio_pread_structured(std::as_writable_bytes(std::span(buf)), 0, std::move(chunk),
                                     [state](int*) { return 1; }));
  ASSERT_TRUE(h.aio_flush([state](int*) {
    *state += 100;
    return 1;
  }));
  EXPECT_EQ(state.use_count(), 4);  // ours, the read's chunk and completion, the flush's
  while (h.aio_in_flight() > 0) ASSERT_TRUE(h.poll(-1)) << h.get_error();
  EXPECT_EQ(*state, 104);
  EXPECT_EQ(std::string(buf, 4), "abcd");
  EXPECT_EQ(state.use_count(), 1);
}

}  // namespace
}  // namespace nbd::client
