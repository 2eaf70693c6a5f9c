// SPDX-License-Identifier: BSD-3-Clause
// retry filter against the in-memory fake disk: a failed request reopens the layer below and
// succeeds on the fresh context; retries run out; retry-readonly; back-off; parallel requests.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo retry_filter_info;
namespace {

using namespace nbd::testing;

// Fails the first `fails` preads across all contexts (a flaky plugin), counting every attempt.
struct Flaky {
  std::atomic<int> fails{0}, preads{0}, opens{0};
  std::vector<bool> readonly_opens;  // one per open, in order (opens happen one at a time)
};

class FlakyConnection final : public FilterConnection {
 public:
  FlakyConnection(std::unique_ptr<Connection> n, Flaky& f) : FilterConnection(std::move(n)), f_(f) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    f_.preads++;
    if (f_.fails.fetch_sub(1) > 0) return make_error(EIO, "flaky: injected failure");
    return next().pread(buf, offset, flags);
  }

 private:
  Flaky& f_;
};

// Opens the retry filter over the fake disk with a flaky layer between them.
Result<std::unique_ptr<Connection>> open_flaky(Filter& f, FakeDisk& d, Flaky& fl, const OpenParams& p = {}) {
  NextOpen below = [&](const OpenParams& q) -> Result<std::unique_ptr<Connection>> {
    fl.opens++;
    fl.readonly_opens.push_back(q.readonly);
    NBD_TRY_ASSIGN(auto disk, open_layer(d, q));
    NBD_TRY_ASSIGN(auto l,
                   server::Layer::open(std::make_unique<FlakyConnection>(std::move(disk), fl), q.readonly));
    return std::unique_ptr<Connection>(std::move(l));
  };
  f.bind_below_for_core(below);
  NBD_TRY_ASSIGN(auto c, f.open(p, below));
  NBD_TRY_ASSIGN(auto l, server::Layer::open(std::move(c), p.readonly));
  return std::unique_ptr<Connection>(std::move(l));
}

std::unique_ptr<Filter> make(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto f = retry_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  return f;
}

TEST(RetryFilter, ReopensAndRetriesAFailedRead) {
  FakeDisk disk(4096);
  std::memcpy(disk.bytes().data() + 100, "retried", 7);
  auto f = make({{"retry-delay", "1ms"}});
  Flaky fl;
  fl.fails = 2;
  auto c = open_flaky(*f, disk, fl);
  ASSERT_TRUE(c);
  std::vector<std::byte> buf(7);
  ASSERT_TRUE((*c)->pread(buf, 100, 0));
  EXPECT_EQ(buf, bytes_of("retried"));
  EXPECT_EQ(fl.preads, 3);
  EXPECT_EQ(fl.opens, 3);  // the first open and one reopen per failure
  EXPECT_EQ(disk.closes(), 2);
  ASSERT_TRUE((*c)->finalize());
  c->reset();
  EXPECT_EQ(disk.closes(), 3);
}

TEST(RetryFilter, GivesUpAfterRetriesWithTheOriginalError) {
  FakeDisk disk(4096);
  auto f = make({{"retries", "3"}, {"retry-delay", "1ms"}});
  Flaky fl;
  fl.fails = 1000;
  auto c = open_flaky(*f, disk, fl);
  std::vector<std::byte> buf(10);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_EQ(r.error().message, "flaky: injected failure");
  EXPECT_EQ(fl.preads, 4);  // the request and 3 retries
}

TEST(RetryFilter, ZeroRetriesFailsAtOnce) {
  FakeDisk disk(4096);
  auto f = make({{"retries", "0"}});
  Flaky fl;
  fl.fails = 1;
  auto c = open_flaky(*f, disk, fl);
  std::vector<std::byte> buf(10);
  EXPECT_FALSE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(fl.opens, 1);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
}

TEST(RetryFilter, BackOffDoublesTheDelay) {
  FakeDisk disk(4096);
  Flaky fl;
  fl.fails = 1000;
  auto f = make({{"retries", "3"}, {"retry-delay", "20ms"}});
  auto c = open_flaky(*f, disk, fl);
  std::vector<std::byte> buf(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*c)->pread(buf, 0, 0));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20 + 40 + 80));

  auto g = make({{"retries", "3"}, {"retry-delay", "20ms"}, {"retry-exponential", "no"}});
  auto d = open_flaky(*g, disk, fl);
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*d)->pread(buf, 0, 0));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(60));
}

TEST(RetryFilter, ReadonlyAfterFailureRefusesWrites) {
  FakeDisk disk(4096);
  auto f = make({{"retry-delay", "1ms"}, {"retry-readonly", "yes"}});
  Flaky fl;
  auto c = open_flaky(*f, disk, fl);
  auto data = bytes_of("before");
  ASSERT_TRUE((*c)->pwrite(data, 0, 0));  // no failure yet: still writable
  fl.fails = 1;
  std::vector<std::byte> buf(6);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, data);
  EXPECT_EQ(fl.readonly_opens, (std::vector<bool>{false, true}));
  auto w = (*c)->pwrite(data, 0, 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().errnum, EROFS);
  auto z = (*c)->zero(10, 0, 0);
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().errnum, EROFS);
}

TEST(RetryFilter, WithoutReadonlyWritesGoOnAfterAReopen) {
  FakeDisk disk(4096);
  auto f = make({{"retry-delay", "1ms"}});
  Flaky fl;
  fl.fails = 1;
  auto c = open_flaky(*f, disk, fl);
  std::vector<std::byte> buf(6);
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  ASSERT_TRUE((*c)->pwrite(bytes_of("after!"), 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_EQ(buf, bytes_of("after!"));
  EXPECT_EQ(fl.readonly_opens, (std::vector<bool>{false, false}));
}

TEST(RetryFilter, OtherOperationsAreRetriedToo) {
  FakeDisk disk(4096);
  auto f = make({{"retry-delay", "1ms"}});
  Flaky fl;
  auto c = open_flaky(*f, disk, fl);
  for (const char* op : {"pwrite", "trim", "zero", "flush", "cache", "extents"}) disk.fail_next(op, EIO);
  ASSERT_TRUE((*c)->pwrite(bytes_of("abc"), 0, kFua));
  ASSERT_TRUE((*c)->trim(512, 1024, 0));
  ASSERT_TRUE((*c)->zero(512, 2048, 0));
  ASSERT_TRUE((*c)->flush(0));
  ASSERT_TRUE((*c)->cache(512, 0, 0));
  ExtentList e(0, 4096);
  ASSERT_TRUE((*c)->extents(4096, 0, 0, e));
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e.extents().front().offset, 0u);
  EXPECT_EQ(e.extents().back().end(), 4096u);
  EXPECT_EQ(fl.opens, 7);
}

TEST(RetryFilter, ParallelFailuresReopenWithoutRaces) {
  FakeDisk disk(1 << 16);
  for (size_t i = 0; i < disk.bytes().size(); ++i) disk.bytes()[i] = std::byte(i * 7);
  auto f = make({{"retry-delay", "1ms"}, {"retries", "50"}, {"retry-exponential", "no"}});
  Flaky fl;
  fl.fails = 20;
  auto c = open_flaky(*f, disk, fl);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::byte> buf(256);
      for (int i = 0; i < 50; ++i) {
        uint64_t off = uint64_t(t * 50 + i) * 256;
        if (!(*c)->pread(buf, off, 0)) {
          ++bad;
          continue;
        }
        for (size_t k = 0; k < buf.size(); ++k)
          if (buf[k] != std::byte((off + k) * 7)) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GE(fl.opens, 2);
  EXPECT_LE(fl.opens, 21);
}

TEST(RetryFilter, RefusesBadValuesAndLeavesOtherKeys) {
  auto f = retry_filter_info.factory();
  auto r = f->config("retry-delay", "0");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("retry-delay=0"), std::string::npos);
  EXPECT_FALSE(f->config("retries", "-1"));
  EXPECT_FALSE(f->config("retries", "x"));
  EXPECT_FALSE(f->config("retry-exponential", "maybe"));
  EXPECT_FALSE(f->config("retry-readonly", "maybe"));
  EXPECT_FALSE(*f->config("retry-request-retries", "1"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
