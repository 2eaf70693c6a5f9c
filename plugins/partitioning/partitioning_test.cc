// SPDX-License-Identifier: BSD-3-Clause
// partitioning plugin through the plugin API: table bytes, partition placement and contents,
// and refused writes to the virtual table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "disk/gpt.h"
#include "nbd/plugin.h"

namespace nbd::plugins {
extern const PluginInfo partitioning_plugin_info;
namespace {

uint32_t le32(const std::byte* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

class PartitioningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/parttest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  std::string make_file(const std::string& name, size_t n, char fill) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << std::string(n, fill);
    return path;
  }
  std::unique_ptr<Connection> open(std::vector<std::pair<std::string, std::string>> kv) {
    plugin_ = partitioning_plugin_info.factory();
    for (auto& [k, v] : kv) EXPECT_TRUE(plugin_->config(k, v)) << k << "=" << v;
    EXPECT_TRUE(plugin_->config_complete());
    auto c = plugin_->open(OpenParams{});
    EXPECT_TRUE(c);
    return std::move(*c);
  }
  std::vector<std::byte> read(Connection& c, uint64_t off, size_t n) {
    std::vector<std::byte> b(n);
    EXPECT_TRUE(c.pread(b, off, 0));
    return b;
  }
  std::unique_ptr<Plugin> plugin_;
  std::string dir_;
};

TEST_F(PartitioningTest, MbrPlacesPartitionsAligned) {
  auto c =
      open({{"file", make_file("a", 1000, 'a')}, {"mbr-id", "0x82"}, {"file", make_file("b", 512, 'b')}});
  EXPECT_EQ(*c->get_size(), (4096u + 1) * 512);
  auto mbr = read(*c, 0, 512);
  EXPECT_EQ(mbr[510], std::byte{0x55});
  EXPECT_EQ(mbr[511], std::byte{0xaa});
  EXPECT_EQ(mbr[446], std::byte{0x80});  // first partition bootable
  EXPECT_EQ(mbr[446 + 4], std::byte{0x83});
  EXPECT_EQ(le32(&mbr[446 + 8]), 2048u);
  EXPECT_EQ(le32(&mbr[446 + 12]), 2u);  // 1000 bytes round up to 2 sectors
  EXPECT_EQ(mbr[462 + 4], std::byte{0x82});
  EXPECT_EQ(le32(&mbr[462 + 8]), 4096u);
  auto a = read(*c, 2048 * 512, 1024);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(a.data()), 1000), std::string(1000, 'a'));
  EXPECT_EQ(a[1000], std::byte{0});  // padding after the file reads as zero
}

TEST_F(PartitioningTest, GptHeaderAndEntriesHaveValidCrcs) {
  auto c = open({{"partition-type", "gpt"}, {"file", make_file("a", 4096, 'x')}});
  uint64_t size = *c->get_size();
  EXPECT_EQ(size, (2048u + 8 + 33) * 512);
  for (uint64_t lba : {uint64_t{1}, size / 512 - 1}) {
    auto h = read(*c, lba * 512, 92);
    EXPECT_EQ(std::memcmp(h.data(), "EFI PART", 8), 0);
    uint32_t want = le32(&h[16]);
    std::memset(&h[16], 0, 4);
    EXPECT_EQ(gpt::crc32(h.data(), 92), want) << "header at LBA " << lba;
  }
  auto e = read(*c, 1024, 128 * 128);
  EXPECT_EQ(std::memcmp(e.data(), gpt::kLinuxFilesystem.data(), 16), 0);
  EXPECT_EQ(le32(&e[32]), 2048u);
  EXPECT_EQ(le32(&e[40]), 2055u);
  EXPECT_EQ(le32(&read(*c, 512, 92)[88]), gpt::crc32(e.data(), e.size()));
}

TEST_F(PartitioningTest, FivePartitionsMakeExtendedPartition) {
  std::vector<std::pair<std::string, std::string>> kv{{"partition-type", "mbr"}, {"alignment", "4096"}};
  for (char ch = 'a'; ch <= 'e'; ch++) kv.push_back({"file", make_file(std::string(1, ch), 512, ch)});
  auto c = open(kv);
  auto mbr = read(*c, 0, 512);
  EXPECT_EQ(mbr[494 + 4], std::byte{0x0f});
  uint32_t ebr1 = le32(&mbr[494 + 8]);
  auto ebr = read(*c, ebr1 * 512ull, 512);
  EXPECT_EQ(ebr[510], std::byte{0x55});
  uint64_t p5 = ebr1 + le32(&ebr[446 + 8]);
  EXPECT_EQ(static_cast<char>(read(*c, p5 * 512, 1)[0]), 'd');
  uint32_t ebr2 = le32(&mbr[494 + 8]) + le32(&ebr[462 + 8]);
  auto ebr_b = read(*c, ebr2 * 512ull, 512);
  EXPECT_EQ(static_cast<char>(read(*c, (ebr2 + le32(&ebr_b[446 + 8])) * 512ull, 1)[0]), 'e');
}

TEST_F(PartitioningTest, WritesReachFilesButNotTheTable) {
  auto path = make_file("a", 512, 'a');
  auto c = open({{"file", path}});
  std::vector<std::byte> w(512, std::byte{'z'});
  ASSERT_TRUE(c->pwrite(w, 2048 * 512, 0));
  ASSERT_TRUE(c->flush(0));
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(s, std::string(512, 'z'));
  auto mbr = read(*c, 0, 512);
  EXPECT_TRUE(c->pwrite(mbr, 0, 0));  // rewriting the same bytes is allowed
  mbr[446 + 4] = std::byte{0x07};
  auto r = c->pwrite(mbr, 0, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EIO);
}

TEST_F(PartitioningTest, BadParametersAreRejected) {
  auto p = partitioning_plugin_info.factory();
  EXPECT_FALSE(p->config("partition-type", "bsd"));
  EXPECT_FALSE(p->config("mbr-id", "0x100"));
  EXPECT_FALSE(p->config("type-guid", "not-a-guid"));
  EXPECT_FALSE(p->config("alignment", "100"));
  EXPECT_FALSE(p->config("file", dir_ + "/missing"));
  EXPECT_FALSE(p->config_complete());  // no files
  EXPECT_TRUE(p->config("file", make_file("empty", 0, 0)));
  auto r = p->config_complete();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("zero-sized"), std::string::npos);
}

}  // namespace
}  // namespace nbd::plugins
