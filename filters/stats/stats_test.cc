// SPDX-License-Identifier: BSD-3-Clause
// stats filter: the report's layout line for line against what upstream's filter (nbdkit 1.32)
// wrote for the same requests, and the filter's counting over the in-memory fake disk.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fixtures/fake_disk.h"
#include "request_clock.h"
#include "stats_report.h"

namespace nbd::filters {
extern const FilterInfo stats_filter_info;
namespace {

using namespace nbd::testing;
using stats::format_report;
using stats::OpReport;
using stats::SizeHistogram;

void add(SizeHistogram& h, uint64_t count, uint64_t offset) {
  int bits = 63 - __builtin_clzll(count);
  h.reqs[bits][offset ? 1 + __builtin_ctzll(offset) : 0]++;
  h.bytes[bits] += count;
}

// The reads of the upstream reference run: 10 x 4 KiB, 5 x 512 B, 1000 B at 3, 64 KiB at 64 KiB.
SizeHistogram reference_reads() {
  SizeHistogram h;
  for (int i = 0; i < 10; ++i) add(h, 4096, i * 4096);
  for (int i = 0; i < 5; ++i) add(h, 512, 512 * i);
  add(h, 1000, 3);
  add(h, 65536, 65536);
  return h;
}

TEST(StatsReport, MatchesUpstreamLayoutAtTheDefaultThreshold) {
  SizeHistogram reads = reference_reads(), writes;
  for (int i = 0; i < 7; ++i) add(writes, 8192, 8192 * i + (1 << 20));
  OpReport ops[] = {
      {"read", 17, 110056, 13, &reads}, {"write", 7, 57344, 336, &writes}, {"flush", 1, 0, 0, nullptr}};
  EXPECT_EQ(format_report(ops, 25, 167400, 984629, 0.95),
            "total: 25 ops, 0.984629 s, 163.48 KiB, 166.03 KiB/s\n"
            "read: 17 ops, 0.000013 s, 107.48 KiB, 7.88 GiB/s op, 109.15 KiB/s total\n"
            "  Request size and alignment breakdown:\n"
            "    12 bits: 58.8% (10 reqs, 40.00 KiB total)\n"
            "         12 bit aligned: 100.0% (10)\n"
            "         13 bit aligned:  50.0% (5)\n"
            "         14 bit aligned:  30.0% (3)\n"
            "         15 bit aligned:  20.0% (2)\n"
            "     9 bits: 35.3% (6 reqs, 3.48 KiB total)\n"
            "          0 bit aligned: 100.0% (6)\n"
            "          9 bit aligned:  83.3% (5)\n"
            "         10 bit aligned:  50.0% (3)\n"
            "         11 bit aligned:  33.3% (2)\n"
            "    other sizes:  5.9% (1 reqs, 107.48 KiB total)\n"
            "\n"
            "write: 7 ops, 0.000336 s, 56.00 KiB, 162.76 MiB/s op, 56.87 KiB/s total\n"
            "  Request size and alignment breakdown:\n"
            "    13 bits: 100.0% (7 reqs, 56.00 KiB total)\n"
            "         13 bit aligned: 100.0% (7)\n"
            "         14 bit aligned:  57.1% (4)\n"
            "         15 bit aligned:  28.6% (2)\n"
            "         20 bit aligned:  14.3% (1)\n"
            "\n"
            "flush: 1 ops, 0.000000 s, 0 bytes, (n/a)/s op, 0 bytes/s total\n");
}

TEST(StatsReport, ThresholdCutsSizesAndAlignments) {
  SizeHistogram reads = reference_reads();
  OpReport ops[] = {{"read", 17, 110056, 17, &reads}};
  EXPECT_EQ(format_report(ops, 17, 110056, 828900, 0.5),
            "total: 17 ops, 0.828900 s, 107.48 KiB, 129.66 KiB/s\n"
            "read: 17 ops, 0.000017 s, 107.48 KiB, 6.03 GiB/s op, 129.66 KiB/s total\n"
            "  Request size and alignment breakdown:\n"
            "    12 bits: 58.8% (10 reqs, 40.00 KiB total)\n"
            "         12 bit aligned: 100.0% (10)\n"
            "         13 bit aligned:  50.0% (5)\n"
            "         14+ bit-aligned: 30.0% (3)\n"
            "    other sizes: 41.2% (7 reqs, 107.48 KiB total)\n"
            "\n");
  // 100% lists every size; 0 lists none.
  std::string all = format_report(ops, 17, 110056, 828900, 1.0);
  EXPECT_NE(all.find("    16 bits:  5.9% (1 reqs, 64.00 KiB total)\n         16 bit aligned: 100.0% (1)\n"),
            std::string::npos);
  EXPECT_EQ(all.find("other sizes"), std::string::npos);
  EXPECT_EQ(format_report(ops, 17, 110056, 828900, 0).find("Request size"), std::string::npos);
}

TEST(StatsReport, NoOperationsIsJustTheTotal) {
  EXPECT_EQ(format_report({}, 0, 0, 24441, 0.95), "total: 0 ops, 0.024441 s, 0 bytes, 0 bytes/s\n");
  EXPECT_EQ(stats::human_size(1023), "1023 bytes");
  EXPECT_EQ(stats::human_size(1024), "1.00 KiB");
  EXPECT_EQ(stats::human_size(uint64_t(3) << 29), "1.50 GiB");
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class StatsFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stats_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ + "/stats.txt";
  }
  void TearDown() override {
    std::remove(file_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, file_;
};

TEST_F(StatsFilterTest, CountsSuccessfulRequestsInParallel) {
  FakeDisk disk(1 << 20);
  auto f = stats_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"statsfile", file_}}));
  ASSERT_TRUE(f->get_ready(ThreadModel::Parallel));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      std::vector<std::byte> buf(4096);
      for (int i = 0; i < 100; ++i) ASSERT_TRUE((*c)->pread(buf, uint64_t(t * 100 + i) * 512, 0));
    });
  for (auto& t : ts) t.join();
  ASSERT_TRUE((*c)->pwrite(bytes_of("hello"), 0, 0));
  disk.fail_next("pwrite", EIO);
  EXPECT_FALSE((*c)->pwrite(bytes_of("lost"), 0, 0));  // failed: not counted as an op
  ASSERT_TRUE((*c)->flush(0));
  c->reset();
  f->unload();
  std::string s = slurp(file_);
  EXPECT_EQ(s.rfind("total: 402 ops, ", 0), 0u) << s;
  EXPECT_NE(s.find("\nread: 400 ops, "), std::string::npos) << s;
  EXPECT_NE(s.find(", 1.56 MiB, "), std::string::npos) << s;
  EXPECT_NE(s.find("    12 bits: 100.0% (400 reqs, 1.56 MiB total)\n          9 bit aligned: 100.0% (400)\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("\nwrite: 1 ops, "), std::string::npos) << s;
  // The failed write is in the size breakdown (counted before the call), as upstream.
  EXPECT_NE(s.find("     2 bits: 100.0% (2 reqs, 9 bytes total)"), std::string::npos) << s;
  EXPECT_NE(s.find("\nflush: 1 ops, "), std::string::npos) << s;
  EXPECT_EQ(s.find("trim:"), std::string::npos) << s;
}

TEST_F(StatsFilterTest, AppendKeepsEarlierReports) {
  FakeDisk disk(4096);
  for (int run = 0; run < 2; ++run) {
    auto f = stats_filter_info.factory();
    ASSERT_TRUE(configure(*f, {{"statsfile", file_}, {"statsappend", "true"}, {"statsthreshold", "0"}}));
    ASSERT_TRUE(f->get_ready(ThreadModel::Parallel));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    f->unload();
  }
  std::string s = slurp(file_);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2) << s;
}

// The TSC source (where the kernel uses it) and steady_clock agree on a 20 ms sleep.
TEST(StatsFilter, RequestClockMeasuresWholeMicroseconds) {
  for (bool steady : {false, true}) {
    stats::RequestClock c;
    c.calibrate(steady);
    if (steady) {
      EXPECT_FALSE(c.uses_tsc());
    }
    uint64_t t0 = c.now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t t1 = c.now();
    uint64_t us = c.whole_us(t0, t1);
    EXPECT_GE(us, 19'900u) << "tsc " << c.uses_tsc();
    EXPECT_LT(us, 200'000u) << "tsc " << c.uses_tsc();
    EXPECT_EQ(c.whole_us(t1, t0), 0u);  // a clock that went backwards counts nothing
    EXPECT_EQ(c.whole_us(t0, t0), 0u);
  }
}

TEST(StatsFilter, RefusesBadValues) {
  auto f = stats_filter_info.factory();
  EXPECT_FALSE(f->config_complete());  // statsfile= is required
  auto r = f->config("statsthreshold", "101");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("statsthreshold=101"), std::string::npos);
  EXPECT_FALSE(f->config("statsthreshold", "x"));
  EXPECT_FALSE(f->config("statsappend", "maybe"));
  EXPECT_FALSE(*f->config("size", "1"));
  ASSERT_TRUE(*f->config("statsfile", "/nonexistent/dir/stats.txt"));
  ASSERT_TRUE(f->config_complete());
  EXPECT_FALSE(f->get_ready(ThreadModel::Parallel));
}

}  // namespace
}  // namespace nbd::filters
