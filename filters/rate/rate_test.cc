// SPDX-License-Identifier: BSD-3-Clause
// rate filter against the in-memory fake disk: the token bucket on a fake clock (exact sleeps),
// then the filter: bytes intact, reads and writes held back, zero/trim free, rate files.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "fixtures/fake_disk.h"
#include "nbd/parse.h"
#include "token_bucket.h"

namespace nbd::filters {
extern const FilterInfo rate_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, configure, open_over, bytes_of
using std::chrono::milliseconds;
using Clock = TokenBucket::Clock;

TEST(TokenBucket, StartsFullThenChargesTheDebt) {
  auto t = Clock::now();
  TokenBucket b(1000, 2.0, t);  // 1000 bits/s, 2000 bits of burst
  EXPECT_EQ(b.take(1500, t), 0u);
  EXPECT_EQ(b.take(500, t), 0u);
  EXPECT_EQ(b.take(100, t), 100'000'000u);  // 100 bits at 1000/s: 0.1 s
  // A second request behind the first waits for both debts.
  EXPECT_EQ(b.take(100, t), 200'000'000u);
  // 0.2 s later the debt is paid; 1 s more refills 1000 bits.
  EXPECT_EQ(b.take(1000, t + milliseconds(1200)), 0u);
  EXPECT_EQ(b.take(1, t + milliseconds(1200)), 1'000'000u);
}

TEST(TokenBucket, RefillStopsAtCapacity) {
  auto t = Clock::now();
  TokenBucket b(1000, 0.5, t);
  EXPECT_EQ(b.take(500, t), 0u);
  // An hour idle still gives only 0.5 s worth of tokens.
  EXPECT_EQ(b.take(600, t + std::chrono::hours(1)), 100'000'000u);
}

TEST(TokenBucket, RateZeroIsUnlimitedAndRatesCanChange) {
  auto t = Clock::now();
  TokenBucket none(0, 2.0, t);
  EXPECT_EQ(none.take(uint64_t(1) << 50, t), 0u);
  TokenBucket b(1000, 1.0, t);
  EXPECT_EQ(b.set_rate(10, t), 1000u);  // capacity shrinks to 10 bits
  EXPECT_EQ(b.take(20, t), 1'000'000'000u);
  EXPECT_EQ(b.set_rate(0, t), 10u);
  EXPECT_EQ(b.take(1'000'000, t), 0u);
  EXPECT_EQ(b.rate(), 0u);
  // What went through while unlimited is not owed once a limit is set (it was: 1000 s here).
  EXPECT_EQ(b.set_rate(1000, t), 0u);
  EXPECT_EQ(b.take(1, t), 1'000'000u);
}

std::unique_ptr<Filter> rate_filter(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto f = rate_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  return f;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(RateFilter, BytesPassAndTransfersAreHeldBack) {
  FakeDisk disk(4096);
  // 80 Kbit/s = 10 KiB/s, no burst: 1 KiB takes 0.1 s.
  auto f = rate_filter({{"rate", "80K"}, {"burstiness", "0"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  auto data = bytes_of(std::string(1024, 'r'));
  auto t0 = Clock::now();
  ASSERT_TRUE((*c)->pwrite(data, 100, 0));
  std::vector<std::byte> buf(1024);
  ASSERT_TRUE((*c)->pread(buf, 100, 0));
  EXPECT_EQ(buf, data);
  // Reads and writes have separate buckets: each waits its own 0.1 s.
  EXPECT_GE(seconds_since(t0), 0.19);
  // Zero and trim move no data and are not held back (8 bits/s would take hours otherwise).
  auto slow = rate_filter({{"connection-rate", "8"}, {"burstiness", "0"}});
  auto s = open_over(*slow, disk);
  t0 = Clock::now();
  ASSERT_TRUE((*s)->zero(1024, 0, 0));
  ASSERT_TRUE((*s)->trim(1024, 1024, 0));
  ASSERT_TRUE((*s)->flush(0));
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_EQ(disk.bytes()[100], std::byte{0});
}

TEST(RateFilter, ConnectionRateIsPerConnection) {
  FakeDisk disk(4096);
  auto f = rate_filter({{"connection-rate", "80K"}, {"burstiness", "0.1"}});  // 1 KiB of burst each
  auto a = open_over(*f, disk), b = open_over(*f, disk);
  std::vector<std::byte> buf(1024);
  auto t0 = Clock::now();
  ASSERT_TRUE((*a)->pread(buf, 0, 0));
  ASSERT_TRUE((*b)->pread(buf, 0, 0));  // its own full bucket: no wait
  EXPECT_LT(seconds_since(t0), 0.09);
  ASSERT_TRUE((*a)->pread(buf, 0, 0));  // a's bucket is empty now
  EXPECT_GE(seconds_since(t0), 0.09);
}

TEST(RateFilter, RateFileIsReadOnEachRequest) {
  FakeDisk disk(4096);
  std::string path = ::testing::TempDir() + "rate_test_rate_file";
  std::remove(path.c_str());
  auto f = rate_filter({{"rate-file", path}, {"burstiness", "0"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(1024);
  // No file and no rate=: unlimited.
  auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_LT(seconds_since(t0), 0.5);
  std::ofstream(path) << "80K\n";
  t0 = Clock::now();
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_GE(seconds_since(t0), 0.19);  // 0.1 s each
  EXPECT_LT(seconds_since(t0), 2.0);   // and the unlimited reads before are not owed
  // A bad value keeps the rate; 0 lifts the limit, as upstream.
  std::ofstream(path) << "fast\n";
  t0 = Clock::now();
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_GE(seconds_since(t0), 0.09);
  std::ofstream(path) << "0\n";
  ASSERT_TRUE((*c)->pread(buf, 0, 0));
  t0 = Clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_LT(seconds_since(t0), 0.5);
  std::remove(path.c_str());
}

TEST(RateFilter, RefusesBadValuesAndLeavesOtherKeys) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> kv;
    std::string message;
  };
  for (const auto& tc : std::vector<Case>{
           {{{"rate", "0"}}, "rate=0: rate cannot be set to 0"},
           {{{"connection-rate", "0"}}, "connection-rate cannot be set to 0"},
           {{{"rate", "1.5M"}}, "rate=1.5M"},
           {{{"rate", "-1"}}, "rate=-1"},
           {{{"rate", "1M"}, {"rate", "2M"}}, "rate set twice"},
           {{{"burstiness", "abc"}}, "burstiness=abc"},
           {{{"burstiness", "-1"}}, "burstiness=-1"},
           {{{"burstiness", "2x"}}, "burstiness=2x"},
           {{{"rate-file", ""}}, "rate-file="},
       }) {
    auto f = rate_filter_info.factory();
    Status s = ok();
    for (auto& [k, v] : tc.kv) {
      auto r = f->config(k, v);
      if (!r) {
        s = r.error();
        break;
      }
    }
    ASSERT_FALSE(s) << tc.message;
    EXPECT_NE(s.error().message.find(tc.message), std::string::npos) << s.error().message;
  }
  auto f = rate_filter_info.factory();
  EXPECT_TRUE(*f->config("rate", "1G"));
  EXPECT_TRUE(*f->config("burstiness", "0.5"));
  EXPECT_FALSE(*f->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
