// SPDX-License-Identifier: BSD-3-Clause
// blocksize-policy filter against the in-memory fake disk: the constraints it advertises (the
// defaulting rules, table-driven) and the error policy (what reaches the disk).
#include <gtest/gtest.h>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo blocksize_policy_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over

using KV = std::vector<std::pair<std::string, std::string>>;

std::unique_ptr<Filter> policy(const KV& kv) {
  auto f = blocksize_policy_filter_info.factory();
  EXPECT_TRUE(configure(*f, kv));
  return f;
}

TEST(BlocksizePolicyFilter, AdvertisedConstraints) {
  struct Case {
    BlockSize plugin;
    KV kv;
    BlockSize want;
  };
  const uint32_t kMax = UINT32_MAX;
  for (const auto& tc : std::vector<Case>{
           {{0, 0, 0}, {}, {0, 0, 0}},  // nothing configured: the plugin's, even unset
           {{512, 4096, 65536}, {}, {512, 4096, 65536}},
           {{0, 0, 0}, {{"blocksize-preferred", "32K"}}, {1, 32768, kMax}},
           {{0, 0, 0}, {{"blocksize-minimum", "4k"}}, {4096, 4096, kMax}},
           {{0, 0, 0}, {{"blocksize-maximum", "1M"}}, {1, 4096, 1048576}},
           {{512, 4096, 65536}, {{"blocksize-minimum", "4k"}}, {4096, 4096, 65536}},
           {{512, 4096, 65536}, {{"blocksize-maximum", "32k"}}, {512, 4096, 32768}},
           {{512, 4096, 65536},
            {{"blocksize-minimum", "1"}, {"blocksize-preferred", "512"}, {"blocksize-maximum", "1k"}},
            {1, 512, 1024}},
       }) {
    FakeCaps caps;
    caps.block_size = tc.plugin;
    FakeDisk disk(1 << 20, caps);
    auto f = policy(tc.kv);
    auto c = open_over(*f, disk);
    ASSERT_TRUE(c);
    BlockSize bs = *(*c)->block_size();
    EXPECT_EQ(bs.minimum, tc.want.minimum);
    EXPECT_EQ(bs.preferred, tc.want.preferred);
    EXPECT_EQ(bs.maximum, tc.want.maximum);
  }
}

TEST(BlocksizePolicyFilter, InconsistentComputedValuesFailTheOpen) {
  FakeDisk disk(1 << 20);  // no constraints: preferred defaults to 4096
  auto f = policy({{"blocksize-maximum", "1000"}});
  auto c = open_over(*f, disk);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("computed block size values are invalid"), std::string::npos);
}

TEST(BlocksizePolicyFilter, ErrorPolicyRefusesBadRequestsBeforeThePlugin) {
  FakeDisk disk(1 << 20);
  auto f = policy(
      {{"blocksize-error-policy", "error"}, {"blocksize-minimum", "4k"}, {"blocksize-maximum", "64k"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> small(1), big(128 * 1024), ok4k(4096);
  for (auto r : {(*c)->pread(small, 0, 0), (*c)->pread(big, 0, 0), (*c)->pread(ok4k, 512, 0),
                 (*c)->pwrite(small, 4096, 0), (*c)->zero(100, 0, 0), (*c)->trim(4096, 100, 0)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errnum, EINVAL);
  }
  EXPECT_TRUE(disk.calls().empty());
  // Aligned requests pass; the maximum binds only reads and writes.
  ASSERT_TRUE((*c)->pread(ok4k, 8192, 0));
  ASSERT_TRUE((*c)->zero(256 * 1024, 0, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 8192, 4096, 0}, {"zero", 0, 256 * 1024, 0}}));
}

TEST(BlocksizePolicyFilter, AllowPolicyPassesBadRequestsOn) {
  FakeDisk disk(1 << 20);
  auto f = policy({{"blocksize-minimum", "4k"}});
  auto c = open_over(*f, disk);
  std::vector<std::byte> small(1);
  ASSERT_TRUE((*c)->pread(small, 3, 0));
  EXPECT_EQ(disk.calls(), (std::vector<FakeCall>{{"pread", 3, 1, 0}}));
}

TEST(BlocksizePolicyFilter, RefusesBadValues) {
  struct Case {
    KV kv;
    std::string message;
  };
  for (const auto& tc : std::vector<Case>{
           {{{"blocksize-error-policy", "foo"}}, "unknown blocksize-error-policy"},
           {{{"blocksize-minimum", "3"}}, "blocksize-minimum must be a power of 2"},
           {{{"blocksize-minimum", "128k"}}, "blocksize-minimum must be <= 64K"},
           {{{"blocksize-preferred", "256"}}, "blocksize-preferred must be between 512 and 32M"},
           {{{"blocksize-preferred", "64M"}}, "blocksize-preferred must be between 512 and 32M"},
           {{{"blocksize-preferred", "3000"}}, "blocksize-preferred must be a power of 2"},
           {{{"blocksize-minimum", "4k"}, {"blocksize-preferred", "2k"}}, "blocksize-minimum must be <="},
           {{{"blocksize-preferred", "64k"}, {"blocksize-maximum", "32k"}}, "blocksize-preferred must be <="},
           {{{"blocksize-minimum", "4k"}, {"blocksize-maximum", "6k"}}, "multiple of blocksize-minimum"},
           {{{"blocksize-maximum", "5G"}}, "blocksize-maximum=5G"},
           {{{"blocksize-minimum", "x"}}, "blocksize-minimum=x"},
       }) {
    auto f = blocksize_policy_filter_info.factory();
    Status s = ok();
    for (auto& [k, v] : tc.kv)
      if (auto r = f->config(k, v); !r) s = r.error();
    if (s) s = f->config_complete();
    ASSERT_FALSE(s) << tc.message;
    EXPECT_NE(s.error().message.find(tc.message), std::string::npos) << s.error().message;
  }
  EXPECT_FALSE(*blocksize_policy_filter_info.factory()->config("size", "1M"));
}

}  // namespace
}  // namespace nbd::filters
