// SPDX-License-Identifier: BSD-3-Clause
// partition filter against the in-memory fake disk: MBR primary and logical partitions, GPT
// with 512- and 4096-byte sectors (tables built here byte by byte), the window every request
// lands in, and every corrupt or missing table refused at open with its reason.
#include <gtest/gtest.h>

#include <random>

#include "disk/gpt.h"
#include "fixtures/fake_disk.h"
#include "partition_table.h"

namespace nbd::filters {
extern const FilterInfo partition_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of
using Bytes = std::vector<std::byte>;

void put(Bytes& d, uint64_t off, uint64_t v, int n) {
  for (int i = 0; i < n; i++) d[off + i] = std::byte((v >> (8 * i)) & 0xff);
}

// An MBR/EBR entry in slot i of the sector at byte `sector`.
void mbr_entry(Bytes& d, uint64_t sector, int i, uint8_t type, uint64_t start, uint64_t count) {
  uint64_t p = sector + 446 + 16 * i;
  d[p + 4] = std::byte{type};
  put(d, p + 8, start, 4);
  put(d, p + 12, count, 4);
  d[sector + 510] = std::byte{0x55};
  d[sector + 511] = std::byte{0xaa};
}

struct GptPart {
  uint64_t first, last;
};

// A GPT as sfdisk writes one: protective MBR, primary header at LBA 1 and entries at LBA 2,
// backup entries and header at the end. count/esize let a test write odd tables.
void write_gpt(Bytes& d, uint64_t ss, const std::vector<GptPart>& parts, uint32_t count = 128,
               uint32_t esize = 128) {
  uint64_t sectors = d.size() / ss, ebytes = uint64_t(count) * esize, es = (ebytes + ss - 1) / ss;
  Bytes entries(ebytes);
  for (size_t i = 0; i < parts.size(); i++) {
    std::memcpy(&entries[i * esize], gpt::kLinuxFilesystem.data(), 16);
    put(entries, i * esize + 16, 0x1234 + i, 8);
    put(entries, i * esize + 32, parts[i].first, 8);
    put(entries, i * esize + 40, parts[i].last, 8);
  }
  uint32_t ecrc = gpt::crc32(entries.data(), entries.size());
  auto header = [&](uint64_t lba, uint64_t alt, uint64_t elba) {
    Bytes h(92);
    std::memcpy(h.data(), "EFI PART", 8);
    put(h, 8, 0x00010000, 4);
    put(h, 12, 92, 4);
    put(h, 24, lba, 8);
    put(h, 32, alt, 8);
    put(h, 40, 2 + es, 8);
    put(h, 48, sectors - 2 - es, 8);
    put(h, 72, elba, 8);
    put(h, 80, count, 4);
    put(h, 84, esize, 4);
    put(h, 88, ecrc, 4);
    put(h, 16, gpt::crc32(h.data(), 92), 4);
    std::memcpy(&d[lba * ss], h.data(), 92);
    std::memcpy(&d[elba * ss], entries.data(), ebytes);
  };
  header(1, sectors - 1, 2);
  header(sectors - 1, 1, sectors - 1 - es);
  mbr_entry(d, 0, 0, 0xee, 1, std::min<uint64_t>(sectors - 1, 0xffffffff));
}

struct Opened {
  std::unique_ptr<Filter> filter;  // outlives its connection
  Result<std::unique_ptr<Connection>> conn = make_error(EIO, "not opened");
};

Opened open_part(FakeDisk& disk, const std::vector<std::pair<std::string, std::string>>& kv) {
  Opened o;
  o.filter = partition_filter_info.factory();
  if (auto s = configure(*o.filter, kv); !s) {
    o.conn = s.error();
    return o;
  }
  o.conn = open_over(*o.filter, disk);
  return o;
}

std::string open_error(FakeDisk& disk, const std::vector<std::pair<std::string, std::string>>& kv) {
  auto o = open_part(disk, kv);
  return o.conn ? "opened" : o.conn.error().message;
}

// Primary partitions 1 (sectors 64+128) and 3 (300+100); slot 2 empty.
void make_mbr(FakeDisk& disk) {
  mbr_entry(disk.bytes(), 0, 0, 0x83, 64, 128);
  mbr_entry(disk.bytes(), 0, 2, 0x0c, 300, 100);
}

TEST(PartitionFilter, MbrPrimaryPartitionIsAWindowOnTheDisk) {
  FakeDisk disk(1 << 20);
  make_mbr(disk);
  auto o = open_part(disk, {{"partition", "3"}});
  ASSERT_TRUE(o.conn) << o.conn.error().message;
  auto& c = *o.conn;
  EXPECT_EQ(*c->get_size(), 100u * 512);
  disk.clear_calls();
  ASSERT_TRUE(c->pwrite(bytes_of("inside"), 10, kFua));
  EXPECT_EQ(std::memcmp(disk.bytes().data() + 300 * 512 + 10, "inside", 6), 0);
  Bytes buf(6);
  ASSERT_TRUE(c->pread(buf, 10, 0));
  EXPECT_EQ(buf, bytes_of("inside"));
  ASSERT_TRUE(c->zero(512, 1024, kMayTrim));
  ASSERT_TRUE(c->trim(512, 2048, 0));
  ASSERT_TRUE(c->cache(512, 4096, 0));
  uint64_t base = 300 * 512;
  std::vector<FakeCall> want = {{"pwrite", base + 10, 6, kFua},
                                {"pread", base + 10, 6, 0},
                                {"zero", base + 1024, 512, kMayTrim},
                                {"trim", base + 2048, 512, 0},
                                {"cache", base + 4096, 512, 0}};
  EXPECT_EQ(disk.calls(), want);
  // The core refuses a request past the partition's end before it reaches the disk.
  EXPECT_FALSE(c->pread(buf, 100 * 512 - 3, 0));
}

TEST(PartitionFilter, ExtentsAreShiftedAndEndAtThePartition) {
  FakeDisk disk(1 << 20);
  make_mbr(disk);
  disk.allocate(64 * 512 + 4096, 512);  // data inside partition 1
  disk.allocate(300 * 512, 512);        // data in partition 3, which partition 1 must not see
  auto o = open_part(disk, {{"partition", "1"}});
  ASSERT_TRUE(o.conn);
  ExtentList e(0, 128 * 512);
  ASSERT_TRUE((*o.conn)->extents(128 * 512, 0, 0, e));
  std::vector<Extent> got = e.extents();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 0u);
  EXPECT_EQ(got[0].flags, kExtentHole | kExtentZero);
  EXPECT_EQ(got[1].offset, 4096u);
  EXPECT_EQ(got[1].length, 512u);
  EXPECT_EQ(got[1].flags, 0u);
  EXPECT_EQ(got[2].offset + got[2].length, 128u * 512);
}

TEST(PartitionFilter, EmptySlotAndExtendedPartitionAreNotServed) {
  FakeDisk disk(1 << 20);
  make_mbr(disk);
  EXPECT_NE(open_error(disk, {{"partition", "2"}}).find("MBR partition 2 not found (its slot is empty)"),
            std::string::npos);
  mbr_entry(disk.bytes(), 0, 1, 0x05, 500, 100);
  EXPECT_NE(open_error(disk, {{"partition", "2"}}).find("MBR partition 2 is an extended partition"),
            std::string::npos);
}

// Extended partition at 1000+1000 holding logical 5 (EBR 1000, data +10, 50 sectors) and
// logical 6 (EBR 1100, data +20, 30 sectors).
void make_logical(FakeDisk& disk) {
  Bytes& d = disk.bytes();
  mbr_entry(d, 0, 0, 0x83, 64, 128);
  mbr_entry(d, 0, 1, 0x0f, 1000, 1000);
  mbr_entry(d, 1000 * 512, 0, 0x83, 10, 50);
  mbr_entry(d, 1000 * 512, 1, 0x05, 100, 60);
  mbr_entry(d, 1100 * 512, 0, 0x82, 20, 30);
}

TEST(PartitionFilter, LogicalPartitionsAreNumberedFromFive) {
  FakeDisk disk(1 << 20);
  make_logical(disk);
  for (auto [n, start, sectors] : {std::tuple{"5", 1010u, 50u}, std::tuple{"6", 1120u, 30u}}) {
    auto o = open_part(disk, {{"partition", n}});
    ASSERT_TRUE(o.conn) << n << ": " << o.conn.error().message;
    EXPECT_EQ(*(*o.conn)->get_size(), sectors * 512u) << n;
    disk.clear_calls();
    Bytes b(1);
    ASSERT_TRUE((*o.conn)->pread(b, 0, 0));
    EXPECT_EQ(disk.calls()[0].offset, start * 512u) << n;
  }
  EXPECT_NE(open_error(disk, {{"partition", "7"}})
                .find("MBR partition 7 not found (logical partitions are 5 to 6)"),
            std::string::npos);
  FakeDisk plain(1 << 20);
  make_mbr(plain);
  EXPECT_NE(open_error(plain, {{"partition", "5"}}).find("there are no logical partitions"),
            std::string::npos);
}

TEST(PartitionFilter, CorruptEbrChainsAreRefused) {
  FakeDisk loop(1 << 20);
  make_logical(loop);
  mbr_entry(loop.bytes(), 1100 * 512, 1, 0x05, 100, 60);  // EBR 1100 links back to itself
  EXPECT_NE(open_error(loop, {{"partition", "9"}}).find("the EBR chain loops back to sector 1100"),
            std::string::npos);
  FakeDisk nosig(1 << 20);
  make_logical(nosig);
  nosig.bytes()[1100 * 512 + 510] = std::byte{0};
  EXPECT_NE(open_error(nosig, {{"partition", "6"}}).find("the EBR at sector 1100 has no 0x55AA signature"),
            std::string::npos);
  FakeDisk outside(1 << 20);
  make_logical(outside);
  mbr_entry(outside.bytes(), 1000 * 512, 1, 0x05, 5000, 60);  // past the extended partition
  EXPECT_NE(open_error(outside, {{"partition", "6"}}).find("outside the extended partition"),
            std::string::npos);
}

TEST(PartitionFilter, PartitionBeyondTheDiskIsRefused) {
  FakeDisk disk(1 << 20);
  make_mbr(disk);
  mbr_entry(disk.bytes(), 0, 3, 0x83, 2000, 100);  // disk has 2048 sectors
  EXPECT_NE(open_error(disk, {{"partition", "4"}})
                .find("MBR partition 4 (sectors 2000+100 of 512 bytes) extends beyond"),
            std::string::npos);
  FakeDisk far(1 << 20);
  make_mbr(far);
  mbr_entry(far.bytes(), 0, 3, 0x83, 0xffffffff, 0xffffffff);
  EXPECT_NE(open_error(far, {{"partition", "4"}}).find("extends beyond the end of the disk"),
            std::string::npos);
}

TEST(PartitionFilter, Gpt512) {
  FakeDisk disk(1 << 20);
  write_gpt(disk.bytes(), 512, {{34, 133}, {200, 299}});
  auto o = open_part(disk, {{"partition", "2"}});
  ASSERT_TRUE(o.conn) << o.conn.error().message;
  EXPECT_EQ(*(*o.conn)->get_size(), 100u * 512);
  ASSERT_TRUE((*o.conn)->pwrite(bytes_of("gpt"), 0, 0));
  EXPECT_EQ(std::memcmp(disk.bytes().data() + 200 * 512, "gpt", 3), 0);
  EXPECT_NE(open_error(disk, {{"partition", "3"}}).find("GPT partition 3 not found (its entry is unused)"),
            std::string::npos);
  EXPECT_NE(open_error(disk, {{"partition", "129"}})
                .find("GPT partition 129 is out of range (the table has 128 entries)"),
            std::string::npos);
}

TEST(PartitionFilter, Gpt4096ByParameterAndFromTheBlockSize) {
  FakeDisk disk(4 << 20);
  write_gpt(disk.bytes(), 4096, {{6, 105}});
  auto o = open_part(disk, {{"partition", "1"}, {"partition-sectorsize", "4k"}});
  ASSERT_TRUE(o.conn) << o.conn.error().message;
  EXPECT_EQ(*(*o.conn)->get_size(), 100u * 4096);
  disk.clear_calls();
  Bytes b(1);
  ASSERT_TRUE((*o.conn)->pread(b, 0, 0));
  EXPECT_EQ(disk.calls()[0].offset, 6u * 4096);
  // At 512 bytes a sector the protective MBR points to a GPT that is not there; the error
  // says where it is.
  EXPECT_NE(open_error(disk, {{"partition", "1"}}).find("use partition-sectorsize=4096"), std::string::npos);
  disk.caps().block_size = BlockSize{4096, 4096, 1 << 20};
  auto autodetected = open_part(disk, {{"partition", "1"}});
  ASSERT_TRUE(autodetected.conn) << autodetected.conn.error().message;
  EXPECT_EQ(*(*autodetected.conn)->get_size(), 100u * 4096);
  // An explicit 512 wins over the block size.
  EXPECT_NE(open_error(disk, {{"partition", "1"}, {"partition-sectorsize", "512"}})
                .find("no \"EFI PART\" signature"),
            std::string::npos);
}

TEST(PartitionFilter, DamagedPrimaryGptFallsBackToTheBackup) {
  FakeDisk disk(1 << 20);
  write_gpt(disk.bytes(), 512, {{34, 133}});
  disk.bytes()[512 + 40] ^= std::byte{1};  // primary header: first usable LBA, CRC now wrong
  auto o = open_part(disk, {{"partition", "1"}});
  ASSERT_TRUE(o.conn) << o.conn.error().message;
  EXPECT_EQ(*(*o.conn)->get_size(), 100u * 512);
  uint64_t last = (1 << 20) - 512;
  disk.bytes()[last + 40] ^= std::byte{1};  // and the backup
  std::string e = open_error(disk, {{"partition", "1"}});
  EXPECT_NE(
      e.find("GPT header at LBA 1: header CRC mismatch; backup GPT header at LBA 2047: header CRC mismatch"),
      std::string::npos)
      << e;
}

TEST(PartitionFilter, GptEntriesCrcAndSizesAreChecked) {
  FakeDisk crc(1 << 20);
  write_gpt(crc.bytes(), 512, {{34, 133}});
  crc.bytes()[2 * 512 + 32] ^= std::byte{1};            // primary entry 1
  crc.bytes()[(2048 - 33) * 512 + 32] ^= std::byte{1};  // backup entry 1
  EXPECT_NE(open_error(crc, {{"partition", "1"}}).find("partition entries CRC mismatch"), std::string::npos);
  FakeDisk small(1 << 20);
  write_gpt(small.bytes(), 512, {{34, 133}}, 128, 64);
  EXPECT_NE(open_error(small, {{"partition", "1"}}).find("partition entry size 64 is not a power of two"),
            std::string::npos);
  FakeDisk huge(1 << 20);
  write_gpt(huge.bytes(), 512, {{34, 133}}, 4, 128);
  Bytes& h = huge.bytes();
  for (uint64_t hdr : {uint64_t(512), h.size() - 512}) {  // both headers: count, CRC refreshed
    put(h, hdr + 80, 0xffffffff, 4);
    put(h, hdr + 16, 0, 4);
    put(h, hdr + 16, gpt::crc32(&h[hdr], 92), 4);
  }
  EXPECT_NE(open_error(huge, {{"partition", "1"}}).find("4294967295 partition entries are more than"),
            std::string::npos);
  FakeDisk backwards(1 << 20);
  write_gpt(backwards.bytes(), 512, {{200, 100}});
  EXPECT_NE(open_error(backwards, {{"partition", "1"}}).find("ends (LBA 100) before it starts (LBA 200)"),
            std::string::npos);
  FakeDisk beyond(1 << 20);
  write_gpt(beyond.bytes(), 512, {{34, 4000}});
  EXPECT_NE(open_error(beyond, {{"partition", "1"}})
                .find("GPT partition 1 (sectors 34+3967 of 512 bytes) extends beyond"),
            std::string::npos);
}

TEST(PartitionFilter, NoTableOrTooSmallDisk) {
  FakeDisk blank(1 << 20);
  EXPECT_NE(open_error(blank, {{"partition", "1"}}).find("the disk has no partition table"),
            std::string::npos);
  FakeDisk tiny(1000);
  EXPECT_NE(open_error(tiny, {{"partition", "1"}}).find("too small for a partition table"),
            std::string::npos);
}

TEST(PartitionFilter, BadParameters) {
  FakeDisk disk(1 << 20);
  make_mbr(disk);
  EXPECT_NE(open_error(disk, {{"partition", "0"}}).find("partition=0: partition numbers count from 1"),
            std::string::npos);
  EXPECT_NE(open_error(disk, {{"partition", "one"}}).find("partition"), std::string::npos);
  EXPECT_NE(open_error(disk, {{"partition", "1"}, {"partition-sectorsize", "1024"}})
                .find("partition-sectorsize=1024: the sector size must be 512 or 4096"),
            std::string::npos);
  EXPECT_NE(open_error(disk, {}).find("the partition=N parameter is required"), std::string::npos);
  EXPECT_FALSE(*partition_filter_info.factory()->config("file", "x")) << "plugin keys pass on";
}

// Random tables (valid signatures, random entries) and random sectors: every outcome is a
// window inside the disk or an error, never a crash or an out-of-bounds read (ASan).
TEST(PartitionFilter, RandomTablesNeverEscapeTheDisk) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 3000; round++) {
    Bytes d(64 * 1024);
    for (auto& b : d) b = std::byte(rng() & 0xff);
    if (round % 3 == 0) write_gpt(d, 512, {{34, 34 + rng() % 200}});
    if (round % 3 != 2) {
      d[510] = std::byte{0x55};
      d[511] = std::byte{0xaa};
      for (int i = 0; i < 4; i++) d[446 + 16 * i + 4] = std::byte(round % 2 ? 0x05 : 0xee);
    }
    if (round % 3 == 0) d[512 + (rng() % 92)] ^= std::byte(1 + rng() % 255);
    auto read = [&d](std::span<std::byte> b, uint64_t off) -> Status {
      if (off > d.size() || b.size() > d.size() - off) return make_error(EIO, "read out of bounds");
      std::memcpy(b.data(), d.data() + off, b.size());
      return ok();
    };
    uint32_t n = 1 + rng() % 8;
    auto w = partition::find_partition(read, d.size(), round % 5 ? 512 : 4096, n);
    if (w) {
      EXPECT_LE(w->offset + w->length, d.size());
    } else {
      EXPECT_EQ(w.error().errnum, EINVAL) << w.error().message;
      EXPECT_FALSE(w.error().message.empty());
    }
  }
}

}  // namespace
}  // namespace nbd::filters
