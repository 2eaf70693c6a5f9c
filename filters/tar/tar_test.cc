// SPDX-License-Identifier: BSD-3-Clause
// tar filter against the in-memory fake disk: tar files built here header by header (ustar,
// GNU long names and base-256 sizes, pax path= and size=), the entry served in place, and
// every missing, corrupt or unservable entry refused at open with its reason.
#include <gtest/gtest.h>

#include <random>

#include "fixtures/fake_disk.h"
#include "tar_scan.h"

namespace nbd::filters {
extern const FilterInfo tar_filter_info;
namespace {

using namespace nbd::testing;  // FakeDisk, FakeCall, configure, open_over, bytes_of
using Bytes = std::vector<std::byte>;

struct Hdr {
  std::string name{};
  uint64_t size = 0;
  char type = '0';
  std::string prefix{};    // ustar prefix
  bool gnu_magic = false;  // "ustar  \0" instead of "ustar\0" "00"
  bool base256 = false;    // size in GNU base-256
  int checksum_delta = 0;  // corrupts the stored checksum
};

void put_str(Bytes& b, size_t off, std::string_view s) { std::memcpy(&b[off], s.data(), s.size()); }

void put_octal(Bytes& b, size_t off, size_t width, uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llo", int(width - 1), static_cast<unsigned long long>(v));
  put_str(b, off, buf);
}

class TarBuilder {
 public:
  TarBuilder& add(const Hdr& hd, std::string_view data) {
    Bytes h(512);
    put_str(h, 0, hd.name.substr(0, 100));
    put_octal(h, 100, 8, 0644);
    put_octal(h, 108, 8, 0);
    put_octal(h, 116, 8, 0);
    if (hd.base256) {
      h[124] = std::byte{0x80};
      for (int i = 0; i < 8; i++) h[135 - i] = std::byte((hd.size >> (8 * i)) & 0xff);
    } else {
      put_octal(h, 124, 12, hd.size);
    }
    put_octal(h, 136, 12, 0);
    h[156] = std::byte(hd.type);
    if (hd.gnu_magic) {
      put_str(h, 257, std::string_view("ustar  \0", 8));
    } else {
      put_str(h, 257,
              std::string_view("ustar\0"
                               "00",
                               8));
      put_str(h, 345, hd.prefix);
    }
    std::memset(&h[148], ' ', 8);
    unsigned sum = 0;
    for (auto b : h) sum += static_cast<unsigned char>(b);
    put_octal(h, 148, 7, sum + hd.checksum_delta);
    bytes_.insert(bytes_.end(), h.begin(), h.end());
    bytes_.insert(bytes_.end(), reinterpret_cast<const std::byte*>(data.data()),
                  reinterpret_cast<const std::byte*>(data.data() + data.size()));
    bytes_.resize((bytes_.size() + 511) / 512 * 512);
    return *this;
  }
  TarBuilder& file(const std::string& name, std::string_view data) {
    return add({.name = name, .size = data.size()}, data);
  }
  TarBuilder& pax(char type, std::string_view records) {
    return add({.name = "PaxHeaders/x", .size = records.size(), .type = type}, records);
  }
  Bytes end() {
    Bytes b = bytes_;
    b.resize(b.size() + 1024);
    return b;
  }
  Bytes raw() const { return bytes_; }

 private:
  Bytes bytes_;
};

std::string pax_record(const std::string& kv) {
  size_t n = kv.size() + 3;  // " " and "\n" and at least one digit
  while (std::to_string(n).size() + kv.size() + 2 != n) n++;
  return std::to_string(n) + " " + kv + "\n";
}

struct Opened {
  std::unique_ptr<Filter> filter;
  Result<std::unique_ptr<Connection>> conn = make_error(EIO, "not opened");
};

Opened open_tar(FakeDisk& disk, const std::vector<std::pair<std::string, std::string>>& kv) {
  Opened o;
  o.filter = tar_filter_info.factory();
  if (auto s = configure(*o.filter, kv); !s) {
    o.conn = s.error();
    return o;
  }
  o.conn = open_over(*o.filter, disk);
  return o;
}

std::string open_error(const Bytes& tar, const std::string& entry, const std::string& limit = "") {
  FakeDisk disk(tar.size());
  disk.bytes() = tar;
  std::vector<std::pair<std::string, std::string>> kv = {{"tar-entry", entry}};
  if (!limit.empty()) kv.push_back({"tar-limit", limit});
  auto o = open_tar(disk, kv);
  return o.conn ? "opened" : o.conn.error().message;
}

// Opens `entry` and returns its bytes as the filter serves them.
std::string served(const Bytes& tar, const std::string& entry) {
  FakeDisk disk(tar.size());
  disk.bytes() = tar;
  auto o = open_tar(disk, {{"tar-entry", entry}});
  if (!o.conn) return "error: " + o.conn.error().message;
  uint64_t size = *(*o.conn)->get_size();
  std::string s(size, '\0');
  if (size && !(*o.conn)->pread(std::span(reinterpret_cast<std::byte*>(s.data()), size), 0, 0))
    return "read failed";
  return s;
}

TEST(TarFilter, ServesTheEntryInPlace) {
  std::string big(1500, 'b');
  Bytes tar = TarBuilder().file("a.txt", "hello").file("dir/big.bin", big).file("c", "see").end();
  EXPECT_EQ(served(tar, "a.txt"), "hello");
  EXPECT_EQ(served(tar, "dir/big.bin"), big);
  EXPECT_EQ(served(tar, "c"), "see");
  FakeDisk disk(tar.size());
  disk.bytes() = tar;
  auto o = open_tar(disk, {{"tar-entry", "dir/big.bin"}});
  ASSERT_TRUE(o.conn);
  disk.clear_calls();
  const uint64_t data = 1536;  // a.txt's header and data block, then big.bin's header
  ASSERT_TRUE((*o.conn)->pwrite(bytes_of("XY"), 1498, kFua));
  ASSERT_TRUE((*o.conn)->zero(10, 0, 0));
  ASSERT_TRUE((*o.conn)->trim(10, 100, 0));
  std::vector<FakeCall> want = {
      {"pwrite", data + 1498, 2, kFua}, {"zero", data, 10, 0}, {"trim", data + 100, 10, 0}};
  EXPECT_EQ(disk.calls(), want);
  EXPECT_EQ(std::memcmp(disk.bytes().data() + data + 1498, "XY", 2), 0);
  Bytes back(3);
  ASSERT_TRUE((*o.conn)->pread(back, 1497, 0));
  EXPECT_EQ(back, bytes_of("bXY"));
  // The entry cannot grow: a write past its end is refused before it reaches the tar file.
  EXPECT_FALSE((*o.conn)->pwrite(bytes_of("Z"), 1500, 0));
  EXPECT_EQ(disk.bytes()[data + 1500], std::byte{0}) << "padding after the entry is untouched";
}

TEST(TarFilter, NamesFromGnuLongNamesUstarPrefixAndPax) {
  std::string long_name = std::string(150, 'n') + "/file.img";
  TarBuilder b;
  b.add({.name = "././@LongLink", .size = long_name.size() + 1, .type = 'L', .gnu_magic = true},
        long_name + std::string(1, '\0'));
  b.add({.name = long_name.substr(0, 100), .size = 4, .gnu_magic = true}, "long");
  b.add({.name = "base.txt", .size = 6, .prefix = "some/prefix"}, "prefix");
  b.pax('x', pax_record("path=" + std::string(120, 'p') + "/pax.txt"));
  b.add({.name = "truncated-name", .size = 3}, "pax");
  Bytes tar = b.end();
  EXPECT_EQ(served(tar, long_name), "long");
  EXPECT_EQ(served(tar, "some/prefix/base.txt"), "prefix");
  EXPECT_EQ(served(tar, std::string(120, 'p') + "/pax.txt"), "pax");
  // Exact names only: the truncated header names and the prefix-less name are not entries.
  EXPECT_NE(served(tar, long_name.substr(0, 100)).find("not found"), std::string::npos);
  EXPECT_NE(served(tar, "base.txt").find("not found"), std::string::npos);
  EXPECT_NE(served(tar, "truncated-name").find("not found"), std::string::npos);
}

TEST(TarFilter, SizesFromPaxAndBase256) {
  std::string data(3000, 'd');
  TarBuilder b;
  b.pax('x', pax_record("size=3000") + pax_record("mtime=1.5"));
  b.add({.name = "paxsize", .size = 0}, data);  // the header's size field is overridden
  b.add({.name = "b256", .size = 700, .gnu_magic = true, .base256 = true}, std::string(700, 'e'));
  b.pax('g', pax_record("comment=global"));
  b.file("after", "ok");
  Bytes tar = b.end();
  EXPECT_EQ(served(tar, "paxsize"), data);
  EXPECT_EQ(served(tar, "b256"), std::string(700, 'e'));
  EXPECT_EQ(served(tar, "after"), "ok");
}

TEST(TarFilter, MissingEntryIsNamed) {
  Bytes tar = TarBuilder().file("a", "1").end();
  EXPECT_NE(open_error(tar, "nope")
                .find("tar: entry 'nope' not found in the tar file (end of archive at offset 1024)"),
            std::string::npos);
  Bytes no_marker = TarBuilder().file("a", "1").raw();
  EXPECT_NE(open_error(no_marker, "nope").find("without an end-of-archive marker; entry 'nope' not found"),
            std::string::npos);
}

TEST(TarFilter, CorruptHeadersAreRefused) {
  Bytes bad_sum = TarBuilder().file("a", "1").add({.name = "b", .size = 1, .checksum_delta = 1}, "2").end();
  EXPECT_EQ(served(bad_sum, "a"), "1") << "a bad header after the entry is never read";
  EXPECT_NE(open_error(bad_sum, "b").find("tar header at offset 1024: checksum mismatch"), std::string::npos);
  Bytes not_tar(4096, std::byte{'x'});
  EXPECT_NE(open_error(not_tar, "a").find("tar header at offset 0: corrupt checksum field"),
            std::string::npos);
  Bytes bad_size = TarBuilder().file("a", "1").end();
  put_str(bad_size, 124, "0000000009x");  // not octal; fix the checksum so the size is what fails
  std::memset(&bad_size[148], ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += static_cast<unsigned char>(bad_size[i]);
  put_octal(bad_size, 148, 7, sum);
  EXPECT_NE(open_error(bad_size, "a").find("tar header at offset 0: corrupt size field"), std::string::npos);
  for (std::string recs : {std::string("5 x=1"), std::string("99 path=a\n"), std::string("7 nokv\n"),
                           std::string("x path=a\n")}) {
    Bytes tar = TarBuilder().pax('x', recs).file("a", "1").end();
    EXPECT_NE(open_error(tar, "a").find("corrupt pax header at offset 0"), std::string::npos) << recs;
  }
  Bytes huge_pax = TarBuilder().pax('x', pax_record("size=99999999999999999999999")).file("a", "1").end();
  EXPECT_NE(open_error(huge_pax, "a").find("is not a size"), std::string::npos);
}

TEST(TarFilter, EntryBeyondTheEndOfTheFile) {
  Bytes tar = TarBuilder().file("a", "1").add({.name = "big", .size = 1 << 20}, "only a little").raw();
  EXPECT_NE(open_error(tar, "big")
                .find("tar header at offset 1024: its entry (1048576 bytes at offset 1536) extends "
                      "beyond the end of the tar file (2048 bytes)"),
            std::string::npos);
  Bytes far =
      TarBuilder().file("a", "1").add({.name = "b", .size = uint64_t(1) << 62, .base256 = true}, "").raw();
  EXPECT_NE(open_error(far, "b").find("extends beyond the end of the tar file"), std::string::npos);
}

TEST(TarFilter, TarLimitStopsTheScan) {
  Bytes tar = TarBuilder().file("a", std::string(5000, 'a')).file("b", "bee").end();
  EXPECT_NE(
      open_error(tar, "b", "4K").find("tar-limit=4096 reached at offset 5632 before entry 'b' was found"),
      std::string::npos);
  EXPECT_EQ(open_error(tar, "b", "6144"), "opened") << "the header ends at 6144: within the limit";
  EXPECT_EQ(open_error(tar, "b", "0"), "opened");
}

TEST(TarFilter, OnlyPlainFilesAreServed) {
  TarBuilder b;
  b.add({.name = "dir/", .type = '5'}, "");
  b.add({.name = "link", .type = '2'}, "");
  b.add({.name = "hard", .type = '1'}, "");
  b.add({.name = "old-dir/", .type = '\0'}, "");
  b.add({.name = "sparse", .size = 512, .type = 'S', .gnu_magic = true}, std::string(512, 's'));
  b.pax('x', pax_record("GNU.sparse.name=psparse") + pax_record("GNU.sparse.realsize=4096"));
  b.add({.name = "GNUSparseFile.0/psparse", .size = 10}, "0123456789");
  b.add({.name = "weird", .type = 'Q'}, "");
  b.add({.name = "contiguous", .size = 2, .type = '7'}, "c7");
  Bytes tar = b.end();
  EXPECT_NE(open_error(tar, "dir/").find("entry 'dir/' at offset 0 is a directory, not a plain file"),
            std::string::npos);
  EXPECT_NE(open_error(tar, "link").find("is a symbolic link"), std::string::npos);
  EXPECT_NE(open_error(tar, "hard").find("is a hard link"), std::string::npos);
  EXPECT_NE(open_error(tar, "old-dir/").find("is a directory"), std::string::npos);
  EXPECT_NE(open_error(tar, "sparse").find("is a GNU sparse file"), std::string::npos);
  EXPECT_NE(open_error(tar, "psparse").find("is a GNU sparse file"), std::string::npos);
  EXPECT_NE(open_error(tar, "weird").find("has unknown type 'Q'"), std::string::npos);
  EXPECT_EQ(served(tar, "contiguous"), "c7");
}

TEST(TarFilter, BadParameters) {
  auto f = tar_filter_info.factory();
  EXPECT_FALSE(f->config_complete());
  EXPECT_NE(f->config_complete().error().message.find("tar-entry=<FILENAME>"), std::string::npos);
  ASSERT_TRUE(f->config("tar-entry", "a"));
  auto twice = f->config("tar-entry", "b");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("only one tar-entry"), std::string::npos);
  auto prog = f->config("tar", "gtar");
  ASSERT_FALSE(prog);
  EXPECT_NE(prog.error().message.find("tar=gtar: not supported"), std::string::npos);
  auto limit = f->config("tar-limit", "1Q");
  ASSERT_FALSE(limit);
  EXPECT_NE(limit.error().message.find("tar-limit=1Q"), std::string::npos);
  EXPECT_FALSE(*f->config("file", "x.tar")) << "plugin keys pass on";
}

// Random headers with valid checksums and random fields: the scan ends in an entry inside the
// file or an error, never a crash or an out-of-bounds read (ASan).
TEST(TarFilter, RandomHeadersNeverEscapeTheFile) {
  std::mt19937_64 rng(7);
  const char types[] = {'0', 'x', 'g', 'L', 'K', '5', 'S', '\0', '7', 'V'};
  for (int round = 0; round < 2000; round++) {
    Bytes d(16 * 512);
    for (auto& b : d) b = std::byte(rng() & 0xff);
    for (size_t blk = 0; blk < d.size(); blk += 512) {
      if (rng() % 2) {
        put_octal(d, blk + 124, 12, rng() % 4096);
        if (rng() % 4 == 0) put_str(d, blk, std::string_view("t\0", 2));
      }
      d[blk + 156] = std::byte(types[rng() % sizeof types]);
      std::memset(&d[blk + 148], ' ', 8);
      unsigned sum = 0;
      for (size_t i = 0; i < 512; i++) sum += static_cast<unsigned char>(d[blk + i]);
      put_octal(d, blk + 148, 7, sum);
    }
    auto read = [&d](std::span<std::byte> b, uint64_t off) -> Status {
      if (off > d.size() || b.size() > d.size() - off) return make_error(EIO, "read out of bounds");
      std::memcpy(b.data(), d.data() + off, b.size());
      return ok();
    };
    auto e = tar::find_entry(read, d.size(), "t", round % 2 ? 0 : 4096);
    if (e) {
      EXPECT_LE(e->offset + e->size, d.size());
    } else {
      EXPECT_EQ(e.error().errnum, EINVAL) << e.error().message;
    }
  }
}

}  // namespace
}  // namespace nbd::filters
