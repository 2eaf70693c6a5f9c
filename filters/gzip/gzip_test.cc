// SPDX-License-Identifier: BSD-3-Clause
// gzip filter over the fake disk holding gzip data made here with zlib: the bytes come back,
// zero runs are holes, every member of a multi-member file counts, and truncated, corrupt or
// non-gzip input refuses the connection with a reason.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo gzip_filter_info;
namespace {

using namespace nbd::testing;
using Bytes = std::vector<std::byte>;

Bytes gzip(const Bytes& raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&z, uLong(raw.size())) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// 1 MiB: a text-like start, 512 KiB of zeroes, a numbered tail.
Bytes sample() {
  Bytes b(1 << 20);
  for (size_t i = 0; i < 256 * 1024; ++i) b[i] = std::byte("nbdkit gzip filter\n"[i % 19]);
  for (size_t i = 768 * 1024; i < b.size(); ++i) b[i] = std::byte(i * 7 % 251);
  return b;
}

struct Served {
  explicit Served(const Bytes& file) : disk(file.size()) {
    std::memcpy(disk.bytes().data(), file.data(), file.size());
    disk.allocate(0, file.size());
    filter = gzip_filter_info.factory();
  }
  Result<std::unique_ptr<Connection>> open() { return open_over(*filter, disk); }
  FakeDisk disk;
  std::unique_ptr<Filter> filter;
};

Bytes read_all(Connection& c) {
  Bytes b(size_t(*c.get_size()));
  EXPECT_TRUE(c.pread(b, 0, 0));
  return b;
}

TEST(GzipFilter, ServesTheDecompressedBytesReadOnly) {
  Bytes raw = sample();
  Served s(gzip(raw));
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*(*c)->get_size(), raw.size());
  EXPECT_TRUE(read_all(**c) == raw);
  EXPECT_FALSE(*(*c)->can_write());
  Bytes some(512);
  EXPECT_FALSE((*c)->pwrite(some, 0, 0));
  // The zero run is a hole of the temporary file: block status says so.
  ExtentList e(0, raw.size());
  ASSERT_TRUE((*c)->extents(raw.size(), 0, 0, e));
  bool saw_hole = false;
  for (const Extent& x : e.extents())
    if ((x.flags & kExtentHole) && x.offset >= 256 * 1024 && x.offset + x.length <= 768 * 1024)
      saw_hole = true;
  EXPECT_TRUE(saw_hole);
  // A second connection reads the same without inflating again (the disk is read once).
  s.disk.clear_calls();
  auto d = s.open();
  ASSERT_TRUE(d);
  EXPECT_TRUE(read_all(**d) == raw);
  for (const FakeCall& call : s.disk.calls()) EXPECT_NE(call.op, "pread");
  c->reset();
  d->reset();
}

TEST(GzipFilter, EveryMemberOfAMultiMemberFile) {
  Bytes a = sample(), b(4096, std::byte{'b'});
  Bytes file = gzip(a), second = gzip(b);
  file.insert(file.end(), second.begin(), second.end());
  Served s(file);
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  Bytes want = a;
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_TRUE(read_all(**c) == want);
  c->reset();
}

TEST(GzipFilter, BadInputRefusesTheConnectionWithAReason) {
  Bytes good = gzip(sample());
  Bytes truncated(good.begin(), good.begin() + good.size() / 2);
  Bytes corrupt = good;
  for (size_t i = 100; i < 140; ++i) corrupt[i] ^= std::byte{0x5a};
  Bytes trailing = good;
  trailing.push_back(std::byte{'x'});
  Bytes text(3000, std::byte{'t'});
  const struct {
    const char* what;
    Bytes file;
    const char* message;
  } cases[] = {{"truncated", truncated, "truncated"},
               {"corrupt", corrupt, "corrupt data"},
               {"trailing garbage", trailing, "gzip:"},
               {"not gzip", text, "not a gzip file"}};
  for (const auto& t : cases) {
    Served s(t.file);
    auto c = s.open();
    ASSERT_FALSE(c) << t.what;
    EXPECT_NE(c.error().message.find(t.message), std::string::npos) << t.what << ": " << c.error().message;
  }
}

}  // namespace
}  // namespace nbd::filters
