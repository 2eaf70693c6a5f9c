// SPDX-License-Identifier: BSD-3-Clause
// GPT helpers: CRC-32 check value, GUID text round trip and deterministic GUIDs.
#include "disk/mbr_gpt_layout.h"

#include <gtest/gtest.h>

#include "disk/gpt.h"

namespace nbd {
namespace {

TEST(Gpt, Crc32CheckValue) { EXPECT_EQ(gpt::crc32("123456789", 9), 0xcbf43926u); }

TEST(Gpt, GuidRoundTripAndDiskOrder) {
  auto g = gpt::parse_guid("type-guid", "0fc63daf-8483-4772-8E79-3D69D8477DE4");
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, gpt::kLinuxFilesystem);
  EXPECT_EQ(gpt::format_guid(*g), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  auto bad = gpt::parse_guid("type-guid", "0FC63DAF-8483-4772-8E79-3D69D8477DEZ");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("type-guid="), std::string::npos);
  EXPECT_EQ(gpt::guid_from_string("x"), gpt::guid_from_string("x"));
  EXPECT_NE(gpt::guid_from_string("x"), gpt::guid_from_string("y"));
}

TEST(MbrGptLayout, RegionsCoverTheDiskContiguously) {
  std::vector<mbr_gpt::PartitionSpec> parts(6);
  for (auto& p : parts) p.size = 1000;
  for (auto type : {mbr_gpt::TableType::Mbr, mbr_gpt::TableType::Gpt}) {
    auto l = mbr_gpt::Layout::create(type, parts);
    ASSERT_TRUE(l);
    uint64_t at = 0;
    for (const auto& r : l->regions()) {
      EXPECT_EQ(r.start, at);
      at = r.end;
    }
    EXPECT_EQ(at, l->size());
    EXPECT_EQ(l->size() % 512, 0u);
  }
  parts[2].size = 0;
  EXPECT_FALSE(mbr_gpt::Layout::create(mbr_gpt::TableType::Gpt, parts));
}

}  // namespace
}  // namespace nbd
