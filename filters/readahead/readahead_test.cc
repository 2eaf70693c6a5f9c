// SPDX-License-Identifier: BSD-3-Clause
// readahead filter over the fake disk: sequential reads send cache requests for what follows,
// never for the same bytes twice and never past the end; random reads and a non-parallel thread
// model send none. Bytes read are the disk's.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo readahead_filter_info;
namespace {

using namespace nbd::testing;
using Bytes = std::vector<std::byte>;

constexpr uint64_t kSize = 8 << 20;
constexpr size_t kRead = 64 * 1024;

struct Observed {
  std::vector<FakeCall> cache;  // the cache calls that reached the disk
  bool bytes_ok = true;
};

Observed read_pattern(ThreadModel model, const std::vector<uint64_t>& offsets) {
  FakeDisk disk(kSize);
  for (uint64_t i = 0; i < kSize; ++i) disk.bytes()[i] = std::byte(i % 253);
  disk.allocate(0, kSize);
  auto f = readahead_filter_info.factory();
  EXPECT_TRUE(f->get_ready(model));
  Observed run;
  {
    auto c = open_over(*f, disk);
    EXPECT_TRUE(c);
    Bytes buf(kRead);
    for (uint64_t off : offsets) {
      EXPECT_TRUE((*c)->pread(buf, off, 0));
      for (size_t i = 0; i < kRead; i += 4093) run.bytes_ok &= buf[i] == std::byte((off + i) % 253);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the prefetch runs meanwhile
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const FakeCall& call : disk.calls())
    if (call.op == "cache") run.cache.push_back(call);
  return run;
}

TEST(ReadaheadFilter, SequentialReadsPrefetchWhatFollowsOnce) {
  std::vector<uint64_t> seq;
  for (uint64_t o = 0; o + kRead <= 4 << 20; o += kRead) seq.push_back(o);
  Observed r = read_pattern(ThreadModel::Parallel, seq);
  EXPECT_TRUE(r.bytes_ok);
  ASSERT_FALSE(r.cache.empty());
  // Four workers send them: in whatever order they finish, sorted they must not overlap.
  std::sort(r.cache.begin(), r.cache.end(),
            [](const FakeCall& a, const FakeCall& b) { return a.offset < b.offset; });
  uint64_t total = 0, last_end = 0;
  for (const FakeCall& c : r.cache) {
    EXPECT_GE(c.offset, 2 * kRead) << "prefetched before the second read said the reads are in sequence";
    EXPECT_LE(c.offset + c.count, kSize);
    EXPECT_GE(c.offset, last_end) << "bytes prefetched twice";
    last_end = c.offset + c.count;
    total += c.count;
  }
  EXPECT_GE(total, 1u << 20);  // the window grew past the reads' own size
}

TEST(ReadaheadFilter, RandomReadsPrefetchNothing) {
  std::vector<uint64_t> random;
  for (uint64_t i = 0; i < 40; ++i) random.push_back((i * 2654435761u) % (kSize / kRead - 1) * kRead);
  Observed r = read_pattern(ThreadModel::Parallel, random);
  EXPECT_TRUE(r.bytes_ok);
  EXPECT_TRUE(r.cache.empty()) << r.cache.size() << " cache calls for random reads";
}

TEST(ReadaheadFilter, DoesNothingUnlessTheThreadModelIsParallel) {
  std::vector<uint64_t> seq;
  for (uint64_t o = 0; o + kRead <= 1 << 20; o += kRead) seq.push_back(o);
  Observed r = read_pattern(ThreadModel::SerializeRequests, seq);
  EXPECT_TRUE(r.bytes_ok);
  EXPECT_TRUE(r.cache.empty());
}

}  // namespace
}  // namespace nbd::filters
