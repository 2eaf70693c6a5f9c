// SPDX-License-Identifier: BSD-3-Clause
// scan filter over the fake disk: the whole disk is prefetched once in order in scan-size pieces
// while a client is connected; scan-forever starts over; scan-ahead jumps past a client's read
// and scan-ahead=false does not; scan-clock decides whether a new client resumes or restarts;
// nothing is sent under a non-parallel thread model, to a layer without cache, or for another
// export than the default; a bad scan-size is refused.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo scan_filter_info;
namespace {

using namespace nbd::testing;
using Bytes = std::vector<std::byte>;
using namespace std::chrono_literals;

std::vector<FakeCall> caches(FakeDisk& d) {
  std::vector<FakeCall> out;
  for (const FakeCall& c : d.calls())
    if (c.op == "cache") out.push_back(c);
  return out;
}

uint64_t covered(FakeDisk& d) {
  uint64_t n = 0;
  for (const FakeCall& c : caches(d)) n += c.count;
  return n;
}

// Waits (up to 20 s) until the cache calls cover at least want bytes.
bool wait_covered(FakeDisk& d, uint64_t want) {
  for (int i = 0; i < 20000 && covered(d) < want; ++i) std::this_thread::sleep_for(1ms);
  return covered(d) >= want;
}

std::unique_ptr<Filter> make(std::vector<std::pair<std::string, std::string>> kv,
                             ThreadModel m = ThreadModel::Parallel) {
  auto f = scan_filter_info.factory();
  for (auto& [k, v] : kv) EXPECT_TRUE(*f->config(k, v)) << k;
  EXPECT_TRUE(f->get_ready(m));
  return f;
}

TEST(ScanFilter, PrefetchesTheWholeDiskOnceInOrder) {
  FakeDisk disk(10 << 20);
  auto f = make({{"scan-size", "1M"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_covered(disk, 10 << 20));
  std::this_thread::sleep_for(100ms);  // and then no more
  auto got = caches(disk);
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, i << 20);
    EXPECT_EQ(got[i].count, 1u << 20);
  }
  c->reset();
  f->unload();
}

TEST(ScanFilter, TheLastPieceStopsAtTheEndAndForeverStartsOver) {
  FakeDisk disk((3 << 20) + 4096);
  auto f = make({{"scan-forever", "true"}});  // 2M pieces: 0, 2M (1M + 4096), then 0 again
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_covered(disk, 3 * disk.bytes().size()));
  c->reset();
  f->unload();
  auto got = caches(disk);
  EXPECT_EQ(got[0].offset, 0u);
  EXPECT_EQ(got[1].offset, 2u << 20);
  EXPECT_EQ(got[1].count, (1u << 20) + 4096);
  EXPECT_EQ(got[2].offset, 0u);
}

// A client read far ahead moves the scan past it (or, with scan-ahead=false, does not).
std::vector<FakeCall> scan_with_a_read_at(uint64_t read_at, const char* ahead) {
  FakeDisk disk(256 << 20);
  auto f = make({{"scan-size", "512"}, {"scan-ahead", ahead}});
  auto c = open_over(*f, disk);
  EXPECT_TRUE(c);
  Bytes buf(4096);
  EXPECT_TRUE((*c)->pread(buf, read_at, 0));
  EXPECT_TRUE(wait_covered(disk, 50 << 20));  // less than what is left after the read at 200M
  c->reset();
  f->unload();
  return caches(disk);
}

TEST(ScanFilter, ScanAheadSkipsPastAClientRead) {
  uint64_t at = 200 << 20;
  auto got = scan_with_a_read_at(at, "true");
  bool jumped = false;
  uint64_t prev_end = 0;  // the scan starts at 0: a first piece elsewhere is a jump too
  for (const FakeCall& c : got) {
    if (c.offset != prev_end) {
      EXPECT_FALSE(jumped) << "jumped twice";
      EXPECT_EQ(c.offset, at + 4096) << "the scan resumes just after the read";
      jumped = true;
    }
    prev_end = c.offset + c.count;
  }
  EXPECT_TRUE(jumped) << "the scan did not skip ahead ";
}

TEST(ScanFilter, WithoutScanAheadTheScanIgnoresReads) {
  auto got = scan_with_a_read_at(200 << 20, "false");
  uint64_t prev_end = 0;
  for (const FakeCall& c : got) {
    ASSERT_EQ(c.offset, prev_end);
    prev_end = c.offset + c.count;
  }
}

// A second client after the first left: scan-clock=true resumes (here: the scan is done, so
// nothing more), scan-clock=false starts over from 0.
size_t caches_after_reconnect(const char* clock) {
  FakeDisk disk(4 << 20);
  auto f = make({{"scan-clock", clock}});
  {
    auto c = open_over(*f, disk);
    EXPECT_TRUE(wait_covered(disk, 4 << 20));
    std::this_thread::sleep_for(50ms);
  }
  disk.clear_calls();
  auto c = open_over(*f, disk);
  EXPECT_TRUE(c);
  std::this_thread::sleep_for(200ms);
  c->reset();
  f->unload();
  return caches(disk).size();
}

TEST(ScanFilter, ScanClockResumesAndItsAbsenceRestarts) {
  EXPECT_EQ(caches_after_reconnect("true"), 0u);
  EXPECT_EQ(caches_after_reconnect("false"), 2u);
}

TEST(ScanFilter, SendsNothingWhereItCannotHelp) {
  struct Case {
    const char* what;
    ThreadModel model;
    CacheMode cache;
    std::string export_name;
  } cases[] = {{"not parallel", ThreadModel::SerializeRequests, CacheMode::Native, ""},
               {"no cache below", ThreadModel::Parallel, CacheMode::None, ""},
               {"not the default export", ThreadModel::Parallel, CacheMode::Native, "other"}};
  for (const Case& t : cases) {
    FakeCaps caps;
    caps.cache = t.cache;
    FakeDisk disk(4 << 20, caps);
    auto f = make({}, t.model);
    auto c = open_over(*f, disk, OpenParams{.export_name = t.export_name});
    ASSERT_TRUE(c) << t.what;
    Bytes buf(4096);
    EXPECT_TRUE((*c)->pread(buf, 0, 0));
    std::this_thread::sleep_for(100ms);
    c->reset();
    f->unload();
    EXPECT_TRUE(caches(disk).empty()) << t.what;
  }
}

TEST(ScanFilter, RefusesABadScanSize) {
  for (const char* bad : {"3M", "0", "256", "2G", "x"}) {
    auto f = scan_filter_info.factory();
    auto r = f->config("scan-size", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("scan-size"), std::string::npos) << r.error().message;
  }
  auto f = scan_filter_info.factory();
  EXPECT_FALSE(f->config("scan-ahead", "maybe"));
}

}  // namespace
}  // namespace nbd::filters
