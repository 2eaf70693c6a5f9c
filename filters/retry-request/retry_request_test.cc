// SPDX-License-Identifier: BSD-3-Clause
// retry-request filter against the in-memory fake disk: a failed request is retried on the
// same context (never reopened), gives up after retry-request-retries, and open is retried
// unless retry-request-open=false.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo retry_request_filter_info;
namespace {

using namespace nbd::testing;

// Fails the first `fails` preads, counting every attempt.
class FlakyReads final : public FilterConnection {
 public:
  FlakyReads(std::unique_ptr<Connection> n, std::atomic<int>& fails, std::atomic<int>& preads)
      : FilterConnection(std::move(n)), fails_(fails), preads_(preads) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    preads_++;
    if (fails_.fetch_sub(1) > 0) return make_error(EIO, "flaky: injected failure");
    return next().pread(buf, offset, flags);
  }

 private:
  std::atomic<int>&fails_, &preads_;
};

struct Stack {
  FakeDisk disk{4096};
  std::atomic<int> fails{0}, preads{0}, opens{0}, open_fails{0};
  std::unique_ptr<Filter> f = retry_request_filter_info.factory();

  Result<std::unique_ptr<Connection>> open() {
    NextOpen below = [this](const OpenParams& q) -> Result<std::unique_ptr<Connection>> {
      opens++;
      if (open_fails.fetch_sub(1) > 0) return make_error(EIO, "flaky: open failed");
      NBD_TRY_ASSIGN(auto d, open_layer(disk, q));
      NBD_TRY_ASSIGN(auto l,
                     server::Layer::open(std::make_unique<FlakyReads>(std::move(d), fails, preads), false));
      return std::unique_ptr<Connection>(std::move(l));
    };
    f->bind_below_for_core(below);
    NBD_TRY_ASSIGN(auto c, f->open({}, below));
    NBD_TRY_ASSIGN(auto l, server::Layer::open(std::move(c), false));
    return std::unique_ptr<Connection>(std::move(l));
  }
};

TEST(RetryRequestFilter, RetriesAFailedReadOnTheSameContext) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "1ms"}}));
  std::memcpy(s.disk.bytes().data() + 10, "again", 5);
  auto c = s.open();
  ASSERT_TRUE(c);
  s.fails = 2;
  std::vector<std::byte> buf(5);
  ASSERT_TRUE((*c)->pread(buf, 10, 0));
  EXPECT_EQ(buf, bytes_of("again"));
  EXPECT_EQ(s.preads, 3);
  EXPECT_EQ(s.opens, 1);
  EXPECT_EQ(s.disk.opens(), 1);
}

TEST(RetryRequestFilter, GivesUpAfterRetriesWithTheError) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "1ms"}, {"retry-request-retries", "4"}}));
  auto c = s.open();
  s.fails = 1000;
  std::vector<std::byte> buf(5);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_EQ(s.preads, 5);
}

TEST(RetryRequestFilter, DelayIsFixed) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "20ms"}, {"retry-request-retries", "3"}}));
  auto c = s.open();
  s.fails = 1000;
  std::vector<std::byte> buf(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*c)->pread(buf, 0, 0));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(60));
}

TEST(RetryRequestFilter, WritesAndOtherRequestsAreRetried) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "1ms"}}));
  auto c = s.open();
  for (const char* op : {"pwrite", "trim", "zero", "flush", "cache", "extents"}) s.disk.fail_next(op, EIO);
  ASSERT_TRUE((*c)->pwrite(bytes_of("abc"), 0, 0));
  ASSERT_TRUE((*c)->trim(512, 1024, 0));
  ASSERT_TRUE((*c)->zero(512, 2048, 0));
  ASSERT_TRUE((*c)->flush(0));
  ASSERT_TRUE((*c)->cache(512, 0, 0));
  ExtentList e(0, 4096);
  ASSERT_TRUE((*c)->extents(4096, 0, 0, e));
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e.extents().back().end(), 4096u);
  std::vector<std::byte> buf(3);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, bytes_of("abc"));
  EXPECT_EQ(s.disk.calls().size(), 13u);  // 6 failed + 6 retried + 1 read
}

TEST(RetryRequestFilter, OpenIsRetriedByDefault) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "1ms"}}));
  s.open_fails = 2;
  EXPECT_TRUE(s.open());
  EXPECT_EQ(s.opens, 3);
}

TEST(RetryRequestFilter, OpenIsNotRetriedWhenDisabled) {
  Stack s;
  ASSERT_TRUE(configure(*s.f, {{"retry-request-delay", "1ms"}, {"retry-request-open", "false"}}));
  s.open_fails = 1;
  auto c = s.open();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "flaky: open failed");
  EXPECT_EQ(s.opens, 1);
}

TEST(RetryRequestFilter, RefusesBadValuesAndLeavesOtherKeys) {
  auto f = retry_request_filter_info.factory();
  auto r = f->config("retry-request-delay", "0");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("retry-request-delay=0"), std::string::npos);
  EXPECT_FALSE(f->config("retry-request-retries", "-1"));
  EXPECT_FALSE(f->config("retry-request-open", "maybe"));
  EXPECT_FALSE(*f->config("retries", "1"));
  EXPECT_FALSE(*f->config("retry-request-readonly", "1"));
}

}  // namespace
}  // namespace nbd::filters
