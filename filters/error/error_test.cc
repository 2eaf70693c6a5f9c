// SPDX-License-Identifier: BSD-3-Clause
// error filter against the in-memory fake disk.
#include <gtest/gtest.h>

#include <fstream>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo error_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

TEST(ErrorFilter, FullRateFailsEveryOperationWithEIO) {
  FakeDisk disk(100);
  auto f = error_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"error-rate", "100%"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(10);
  ExtentList e(0, 10);
  auto r = (*c)->pread(buf, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
  EXPECT_EQ(r.error().message, "injecting EIO error into pread");
  EXPECT_FALSE((*c)->pwrite(buf, 0, 0));
  EXPECT_FALSE((*c)->trim(10, 0, 0));
  EXPECT_FALSE((*c)->zero(10, 0, 0));
  EXPECT_FALSE((*c)->extents(10, 0, 0, e));
  EXPECT_FALSE((*c)->cache(10, 0, 0));
  EXPECT_TRUE((*c)->flush(0)) << "upstream never injects into flush";
  EXPECT_EQ(disk.calls().size(), 1u) << "only flush reaches the plugin";
}

TEST(ErrorFilter, PerOperationSettings) {
  FakeDisk disk(100);
  auto f = error_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"error", "ENOSPC"},
                             {"error-pwrite-rate", "1"},
                             {"error-zero-rate", "1:1"},
                             {"error-zero", "EPERM"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(10, std::byte{5});
  EXPECT_TRUE((*c)->pread(buf, 0, 0));
  EXPECT_TRUE((*c)->trim(10, 0, 0));
  EXPECT_EQ((*c)->pwrite(buf, 0, 0).error().errnum, ENOSPC);
  EXPECT_EQ((*c)->zero(10, 0, 0).error().errnum, EPERM);
  EXPECT_EQ(disk.bytes()[0], std::byte{0});
}

TEST(ErrorFilter, ZeroRateNeverFails) {
  FakeDisk disk(100);
  auto f = error_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"error-rate", "0"}, {"error", "ENOMEM"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(10);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*c)->pread(buf, 0, 0));
}

TEST(ErrorFilter, PartialRateFailsSomeRequests) {
  FakeDisk disk(100);
  auto f = error_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"error-pread-rate", "50%"}}));
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(1);
  int failed = 0;
  for (int i = 0; i < 2000; ++i) failed += !(*c)->pread(buf, 0, 0);
  // Binomial(2000, 0.5): outside [700, 1300] has probability far below 1e-40.
  EXPECT_GT(failed, 700);
  EXPECT_LT(failed, 1300);
}

TEST(ErrorFilter, ErrorsOnlyWhileTheFileExists) {
  std::string file = ::testing::TempDir() + "error_filter_trigger";
  std::remove(file.c_str());
  FakeDisk disk(100);
  auto f = error_filter_info.factory();
  ASSERT_TRUE(configure(*f, {{"error-rate", "1"}, {"error-cache-file", file}}));
  auto c = open_over(*f, disk);
  EXPECT_TRUE((*c)->cache(10, 0, 0));
  std::ofstream(file).put('x');
  EXPECT_FALSE((*c)->cache(10, 0, 0));
  std::vector<std::byte> buf(1);
  EXPECT_FALSE((*c)->pread(buf, 0, 0)) << "the file was set for cache only";
  std::remove(file.c_str());
  EXPECT_TRUE((*c)->cache(10, 0, 0));
}

TEST(ErrorFilter, RejectsBadValuesAndLeavesOtherKeys) {
  auto f = error_filter_info.factory();
  auto r = f->config("error", "EFOO");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("error=EFOO: unknown error name"), std::string::npos);
  EXPECT_FALSE(f->config("error-rate", "150%"));
  EXPECT_FALSE(f->config("error-pread-rate", "x"));
  EXPECT_FALSE(*f->config("error-flush-rate", "1")) << "not an error filter key";
  EXPECT_FALSE(*f->config("errors", "1"));
  EXPECT_FALSE(*f->config("size", "1"));
}

}  // namespace
}  // namespace nbd::filters
