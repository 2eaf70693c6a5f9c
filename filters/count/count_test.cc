// SPDX-License-Identifier: BSD-3-Clause
// count filter against the in-memory fake disk: the exit message totals the bytes of the
// requests that succeeded, from many threads at once, and data passes through unchanged.
#include <gtest/gtest.h>

#include <thread>

#include "fixtures/fake_disk.h"
#include "nbd/log.h"

namespace nbd::filters {
extern const FilterInfo count_filter_info;
namespace {

using namespace nbd::testing;

std::string unload_message(Filter& f) {
  log::set_verbose(true);
  ::testing::internal::CaptureStderr();
  f.unload();
  std::string err = ::testing::internal::GetCapturedStderr();
  log::set_verbose(false);
  return err;
}

TEST(CountFilter, TotalsSuccessfulRequests) {
  FakeDisk disk(1 << 20);
  auto f = count_filter_info.factory();
  ASSERT_TRUE(configure(*f, {}));
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->pwrite(bytes_of("counted"), 100, 0));
  std::vector<std::byte> buf(7);
  ASSERT_TRUE((*c)->pread(buf, 100, 0));
  EXPECT_EQ(buf, bytes_of("counted"));
  ASSERT_TRUE((*c)->zero(4096, 8192, 0));
  ASSERT_TRUE((*c)->trim(512, 0, 0));
  ASSERT_TRUE((*c)->flush(0));
  disk.fail_next("pread", EIO);
  EXPECT_FALSE((*c)->pread(buf, 0, 0));  // failed: not counted
  disk.fail_next("pwrite", EIO);
  EXPECT_FALSE((*c)->pwrite(bytes_of("lost"), 0, 0));
  c->reset();
  std::string msg = unload_message(*f);
  EXPECT_NE(msg.find("count bytes: read 7, written 7, zeroed 4096, trimmed 512\n"), std::string::npos) << msg;
}

TEST(CountFilter, ParallelReadsAreAllCounted) {
  FakeDisk disk(1 << 20);
  auto f = count_filter_info.factory();
  auto c = open_over(*f, disk);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      std::vector<std::byte> buf(1000);
      for (int i = 0; i < 250; ++i) ASSERT_TRUE((*c)->pread(buf, uint64_t(i) * 1000, 0));
    });
  for (auto& t : ts) t.join();
  std::string msg = unload_message(*f);
  EXPECT_NE(msg.find("count bytes: read 1000000, written 0, zeroed 0, trimmed 0\n"), std::string::npos)
      << msg;
}

TEST(CountFilter, TakesNoParameters) {
  auto f = count_filter_info.factory();
  EXPECT_FALSE(*f->config("count", "1"));
  EXPECT_FALSE(*f->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
