// SPDX-License-Identifier: BSD-3-Clause
// protect filter against the in-memory fake disk: which bytes are protected for each form of
// protect=, identical writes pass, changing writes/zeroes/trims fail with EPERM, and bad values.
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo protect_filter_info;
namespace {

using namespace nbd::testing;

Result<std::unique_ptr<Connection>> open_with(FakeDisk& disk, const std::vector<std::string>& protect) {
  static std::vector<std::unique_ptr<Filter>> keep;  // the filter outlives its connections
  keep.push_back(protect_filter_info.factory());
  std::vector<std::pair<std::string, std::string>> kv;
  for (auto& p : protect) kv.emplace_back("protect", p);
  NBD_TRY(configure(*keep.back(), kv));
  return open_over(*keep.back(), disk);
}

// One letter per probe offset: 'w' if writing a byte that differs succeeds, 'P' if EPERM.
std::string probe(const std::vector<std::string>& protect) {
  FakeDisk disk(1000);
  auto c = open_with(disk, protect);
  if (!c) return "error: " + c.error().message;
  std::string out;
  for (uint64_t off : {0, 15, 16, 17, 99, 100, 150, 199, 200, 201, 255, 256, 999}) {
    auto r = (*c)->pwrite(bytes_of("x"), off, 0);
    if (r) {
      out += 'w';
    } else {
      EXPECT_EQ(r.error().errnum, EPERM);
      out += 'P';
    }
  }
  return out;
}

// The expectations are what Debian's nbdkit 1.32 answers to the same probes, except where
// it merges overlapping ranges wrongly (see README): there ours protects the union.
TEST(ProtectFilter, RangesAsUpstream) {
  EXPECT_EQ(probe({}), "wwwwwwwwwwwww");
  EXPECT_EQ(probe({"100-199"}), "wwwwwPPPwwwww");
  EXPECT_EQ(probe({"~100-199"}), "PPPPPwwwPPPPP");
  EXPECT_EQ(probe({"100-"}), "wwwwwPPPPPPPP");
  EXPECT_EQ(probe({"-199"}), "PPPPPPPPwwwww");
  EXPECT_EQ(probe({"-"}), "PPPPPPPPPPPPP");
  EXPECT_EQ(probe({"~-"}), "wwwwwwwwwwwww");
  EXPECT_EQ(probe({"~100-"}), "PPPPPwwwwwwww");
  EXPECT_EQ(probe({"0x10-0x10"}), "wwPwwwwwwwwww");
  EXPECT_EQ(probe({"020-021"}), "wwPPwwwwwwwww");
  EXPECT_EQ(probe({"~100-199", "~150-255"}), "PPPPPPwwPPPPP");
  EXPECT_EQ(probe({"100-2000"}), "wwwwwPPPPPPPP");
  EXPECT_EQ(probe({"0-18446744073709551615"}), "PPPPPPPPPPPPP");  // upstream asserts here
  EXPECT_EQ(probe({"16-16", "~100-199"}), "PPPPPwwwPPPPP");       // upstream leaves 17-99 open
  EXPECT_EQ(probe({"200-255", "16-17", "17-99"}), "wwPPPwwwPPPww");
}

TEST(ProtectFilter, IdenticalWritesPassAndReachThePlugin) {
  FakeDisk disk(1000);
  std::memcpy(disk.bytes().data() + 100, "protected", 9);
  auto c = open_with(disk, {"100-199"});
  disk.clear_calls();
  ASSERT_TRUE((*c)->pwrite(bytes_of("xxprotected"), 98, 0));  // the unprotected head may change
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 100, 9, 0}, {"pwrite", 98, 11, 0}}));
  EXPECT_EQ(disk.bytes()[98], std::byte{'x'});
  auto r = (*c)->pwrite(bytes_of("xxprotectex"), 98, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EPERM);
  EXPECT_NE(r.error().message.find("protected range 100-199"), std::string::npos) << r.error().message;
  EXPECT_EQ(disk.bytes()[108], std::byte{'d'});
}

TEST(ProtectFilter, ZeroAndTrimOnlyWhereAlreadyZero) {
  FakeDisk disk(200000);
  disk.bytes()[150000] = std::byte{1};
  auto c = open_with(disk, {"100000-"});
  ASSERT_TRUE((*c)->zero(1000, 100, 0));
  ASSERT_TRUE((*c)->zero(40000, 100000, 0));  // zero already
  ASSERT_TRUE((*c)->trim(40000, 100000, 0));
  auto z = (*c)->zero(100000, 99999, kMayTrim);  // crosses 64 KiB chunks up to the non-zero byte
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().errnum, EPERM);
  auto t = (*c)->trim(1, 150000, 0);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().errnum, EPERM);
  EXPECT_EQ(disk.bytes()[150000], std::byte{1});
  ASSERT_TRUE((*c)->pwrite(bytes_of("abc"), 99997, 0));
}

TEST(ProtectFilter, ReadErrorsBelowFailTheWrite) {
  FakeDisk disk(1000);
  auto c = open_with(disk, {"0-9"});
  disk.fail_next("pread", EIO);
  std::vector<std::byte> one(1);
  auto r = (*c)->pwrite(one, 5, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
}

TEST(ProtectFilter, RejectsBadRanges) {
  for (std::string v : {"200-100", "abc", "100", "", "~", "1k-2k", "100-199x", "-1-5", "~~1-2", "0x-1",
                        "18446744073709551616-"}) {
    auto f = protect_filter_info.factory();
    auto r = f->config("protect", v);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().errnum, EINVAL);
    EXPECT_NE(r.error().message.find("protect=" + v), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(*protect_filter_info.factory()->config("range", "1-2"))
      << "keys the filter does not own pass on";
}

}  // namespace
}  // namespace nbd::filters
