// SPDX-License-Identifier: BSD-3-Clause
// blocksize filter against the in-memory fake disk: what reaches the disk (every call aligned
// and no larger than the limits), the bytes the client sees, and the limits it advertises.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo blocksize_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of

std::unique_ptr<Filter> blocksize(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto f = blocksize_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  return f;
}

void fill_pattern(FakeDisk& d) {
  for (size_t i = 0; i < d.bytes().size(); ++i) d.bytes()[i] = std::byte(i * 7 + i / 251);
  d.allocate(0, d.bytes().size());
}

void expect_aligned(FakeDisk& d, uint64_t mb, uint64_t maxdata) {
  for (const FakeCall& c : d.calls()) {
    if (c.op == "flush") continue;
    EXPECT_EQ(c.offset % mb, 0u) << c.op << " at " << c.offset;
    EXPECT_EQ(c.count % mb, 0u) << c.op << " of " << c.count;
    if (c.op == "pread" || c.op == "pwrite") {
      EXPECT_LE(c.count, maxdata) << c.op;
    }
  }
}

TEST(BlocksizeFilter, DefaultsComeFromThePluginAndWiderLimitsAreAdvertised) {
  FakeCaps caps;
  caps.block_size = {512, 2048, 64 * 1024};
  FakeDisk disk(1024 * 1024 + 100, caps);
  auto f = blocksize({});
  auto c = open_over(*f, disk);
  ASSERT_TRUE(c);
  EXPECT_EQ(*(*c)->get_size(), 1024u * 1024);  // rounded down to the plugin's minimum
  BlockSize bs = *(*c)->block_size();
  EXPECT_EQ(bs.minimum, 1u);
  EXPECT_EQ(bs.preferred, 4096u);
  EXPECT_EQ(bs.maximum, UINT32_MAX);
  // A 200 KiB read reaches the disk as pieces of at most the plugin's 64 KiB.
  std::vector<std::byte> buf(200 * 1024);
  ASSERT_TRUE((*c)->pread(buf, 512, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 512, 65536, 0},
                                                 {"pread", 512 + 65536, 65536, 0},
                                                 {"pread", 512 + 2 * 65536, 65536, 0},
                                                 {"pread", 512 + 3 * 65536, 8192, 0}}));
}

TEST(BlocksizeFilter, UnalignedReadsAndWritesAreWholeBlocksBelow) {
  FakeDisk disk(64 * 1024);
  fill_pattern(disk);
  auto expect = disk.bytes();
  auto f = blocksize({{"minblock", "512"}, {"maxdata", "4k"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> buf(10000);
  ASSERT_TRUE((*c)->pread(buf, 100, 0));
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), expect.begin() + 100));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 0, 512, 0},
                                                 {"pread", 512, 4096, 0},
                                                 {"pread", 4608, 4096, 0},
                                                 {"pread", 8704, 1024, 0},
                                                 {"pread", 9728, 512, 0}}));
  disk.clear_calls();
  // A write at an odd offset: read-modify-write of the head and tail blocks, the body as is.
  auto data = bytes_of(std::string(5000, 'w'));
  ASSERT_TRUE((*c)->pwrite(data, 1001, 0));
  std::copy(data.begin(), data.end(), expect.begin() + 1001);
  EXPECT_EQ(disk.bytes(), expect);
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 512, 512, 0},
                                                 {"pwrite", 512, 512, 0},
                                                 {"pwrite", 1024, 4096, 0},
                                                 {"pwrite", 5120, 512, 0},
                                                 {"pread", 5632, 512, 0},
                                                 {"pwrite", 5632, 512, 0}}));
  // A write inside one block.
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("xyz"), 20000, 0));
  std::copy_n("xyz", 3, reinterpret_cast<char*>(expect.data()) + 20000);
  EXPECT_EQ(disk.bytes(), expect);
  expect_aligned(disk, 512, 4096);
}

TEST(BlocksizeFilter, ZeroTrimAndCacheAreAlignedAndSplit) {
  FakeDisk disk(64 * 1024);
  fill_pattern(disk);
  auto expect = disk.bytes();
  auto f = blocksize({{"minblock", "4k"}, {"maxlen", "8k"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->zero(20000, 1000, kMayTrim));
  std::fill_n(expect.begin() + 1000, 20000, std::byte{0});
  EXPECT_EQ(disk.bytes(), expect);
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 0, 4096, 0},
                                                 {"pwrite", 0, 4096, 0},
                                                 {"zero", 4096, 8192, kMayTrim},
                                                 {"zero", 12288, 8192, kMayTrim},
                                                 {"pread", 20480, 4096, 0},
                                                 {"pwrite", 20480, 4096, 0}}));
  disk.clear_calls();
  // Trim drops the unaligned ends: only [8k, 24k) is trimmed.
  ASSERT_TRUE((*c)->trim(20000, 5000, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"trim", 8192, 8192, 0}, {"trim", 16384, 8192, 0}}));
  disk.clear_calls();
  ASSERT_TRUE((*c)->cache(100, 4000, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"cache", 0, 8192, 0}}));
  // Negative: a fast zero that would need splitting fails at once, before the disk sees it.
  disk.clear_calls();
  auto r = (*c)->zero(100, 4096, kFastZero);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOTSUP);
  EXPECT_FALSE((*c)->zero(16384, 0, kFastZero));
  EXPECT_TRUE(disk.calls().empty());
  ASSERT_TRUE((*c)->zero(8192, 4096, kFastZero));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"zero", 4096, 8192, kFastZero}}));
}

// The boundary above the filter emulates FUA for it (the filter answers can_fua as the plugin
// does), so the pieces go down without FUA and one flush follows them.
TEST(BlocksizeFilter, EmulatedFuaBecomesOneFlushAfterThePieces) {
  FakeCaps caps;
  caps.fua = FuaMode::Emulate;
  FakeDisk disk(64 * 1024, caps);
  auto f = blocksize({{"maxdata", "4k"}});
  auto c = open_over(*f, disk);
  ASSERT_TRUE((*c)->pwrite(std::vector<std::byte>(10000), 0, kFua));
  EXPECT_EQ(
      disk.calls(),
      (std::vector<FakeCall>{
          {"pwrite", 0, 4096, 0}, {"pwrite", 4096, 4096, 0}, {"pwrite", 8192, 1808, 0}, {"flush", 0, 0, 0}}));
}

TEST(BlocksizeFilter, ExtentsAreAlignedToTheBlock) {
  FakeDisk disk(16 * 1024);
  disk.allocate(0, 100);     // data in the first block only
  disk.allocate(8192, 512);  // and half of the third 1k block
  auto f = blocksize({{"minblock", "1k"}});
  auto c = open_over(*f, disk);
  ExtentList e(10, 16 * 1024);
  ASSERT_TRUE((*c)->extents(16 * 1024 - 10, 10, 0, e));
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> got;
  for (auto& x : e.extents()) got.emplace_back(x.offset, x.length, x.flags);
  uint64_t hz = kExtentHole | kExtentZero;
  EXPECT_EQ(got, (std::vector<std::tuple<uint64_t, uint64_t, uint64_t>>{
                     {10, 1014, 0}, {1024, 7168, hz}, {8192, 1024, 0}, {9216, 7168, hz}}));
}

TEST(BlocksizeFilter, RefusesBadLimits) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> kv;
    std::string message;
  };
  for (const auto& tc : std::vector<Case>{
           {{{"minblock", "3"}}, "minblock must be a power of 2"},
           {{{"minblock", "128k"}}, "minblock must not exceed 65536"},
           {{{"minblock", "512"}, {"maxdata", "1000"}}, "maxdata must be a multiple of 512"},
           {{{"minblock", "4k"}, {"maxlen", "6k"}}, "maxlen must be a multiple of 4096"},
           {{{"maxlen", "0"}}, "maxlen=0"},
           {{{"maxdata", "5G"}}, "'maxdata' too large"},
           {{{"minblock", "x"}}, "minblock=x"},
       }) {
    auto f = blocksize_filter_info.factory();
    Status s = ok();
    for (auto& [k, v] : tc.kv)
      if (auto r = f->config(k, v); !r) s = r.error();
    if (s) s = f->config_complete();
    ASSERT_FALSE(s) << tc.message;
    EXPECT_NE(s.error().message.find(tc.message), std::string::npos) << s.error().message;
  }
  auto f = blocksize_filter_info.factory();
  EXPECT_FALSE(*f->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
