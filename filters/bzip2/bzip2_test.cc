// SPDX-License-Identifier: BSD-3-Clause
// bzip2 filter over the fake disk holding bzip2 data made here with libbz2: the bytes come
// back, zero runs are holes, every stream of a concatenated file counts, and truncated,
// corrupt or non-bzip2 input refuses the connection with a reason.
#include <bzlib.h>
#include <gtest/gtest.h>

#include <cstring>

#include "fixtures/fake_disk.h"

namespace nbd::filters {
extern const FilterInfo bzip2_filter_info;
namespace {

using namespace nbd::testing;
using Bytes = std::vector<std::byte>;

Bytes bzip2(const Bytes& raw) {
  Bytes out(raw.size() + raw.size() / 100 + 1024);
  unsigned len = unsigned(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(reinterpret_cast<char*>(out.data()), &len,
                                     reinterpret_cast<char*>(const_cast<std::byte*>(raw.data())),
                                     unsigned(raw.size()), 9, 0, 0),
            BZ_OK);
  out.resize(len);
  return out;
}

// 3 MiB (more than one 900 kB bzip2 block and one 1 MiB read chunk): text, 1 MiB of zeroes, a
// numbered tail.
Bytes sample() {
  Bytes b(3 << 20);
  for (size_t i = 0; i < 1024 * 1024; ++i) b[i] = std::byte("nbdkit bzip2 filter\n"[i % 20]);
  for (size_t i = 2048 * 1024; i < b.size(); ++i) b[i] = std::byte(i * 7 % 251);
  return b;
}

struct Served {
  explicit Served(const Bytes& file) : disk(file.size()) {
    std::memcpy(disk.bytes().data(), file.data(), file.size());
    disk.allocate(0, file.size());
    filter = bzip2_filter_info.factory();
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

TEST(Bzip2Filter, ServesTheDecompressedBytesReadOnly) {
  Bytes raw = sample();
  Served s(bzip2(raw));
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*(*c)->get_size(), raw.size());
  EXPECT_TRUE(read_all(**c) == raw);
  EXPECT_FALSE(*(*c)->can_write());
  Bytes some(512);
  EXPECT_FALSE((*c)->pwrite(some, 0, 0));
  ExtentList e(0, raw.size());
  ASSERT_TRUE((*c)->extents(raw.size(), 0, 0, e));
  bool saw_hole = false;
  for (const Extent& x : e.extents())
    if ((x.flags & kExtentHole) && x.offset >= 1024 * 1024 && x.offset + x.length <= 2048 * 1024)
      saw_hole = true;
  EXPECT_TRUE(saw_hole);
  s.disk.clear_calls();
  auto d = s.open();  // decompressed once: the second connection does not read the disk
  ASSERT_TRUE(d);
  EXPECT_TRUE(read_all(**d) == raw);
  for (const FakeCall& call : s.disk.calls()) EXPECT_NE(call.op, "pread");
  c->reset();
  d->reset();
}

TEST(Bzip2Filter, EveryStreamOfAConcatenatedFile) {
  Bytes a = sample(), b(4096, std::byte{'b'});
  Bytes file = bzip2(a), second = bzip2(b);
  file.insert(file.end(), second.begin(), second.end());
  Served s(file);
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  Bytes want = a;
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_TRUE(read_all(**c) == want);
  c->reset();
}

TEST(Bzip2Filter, BadInputRefusesTheConnectionWithAReason) {
  Bytes good = bzip2(sample());
  Bytes truncated(good.begin(), good.begin() + good.size() / 2);
  Bytes corrupt = good;
  for (size_t i = 100; i < 140; ++i) corrupt[i] ^= std::byte{0x5a};
  Bytes trailing = good;
  trailing.push_back(std::byte{'x'});
  Bytes text(3000, std::byte{'t'});
  Bytes empty;
  const struct {
    const char* what;
    Bytes file;
    const char* message;
  } cases[] = {{"truncated", truncated, "truncated"},
               {"corrupt", corrupt, "corrupt data"},
               {"trailing garbage", trailing, "bzip2:"},
               {"not bzip2", text, "not a bzip2 file"},
               {"empty", empty, "not a bzip2 file"}};
  for (const auto& t : cases) {
    Served s(t.file);
    auto c = s.open();
    ASSERT_FALSE(c) << t.what;
    EXPECT_NE(c.error().message.find(t.message), std::string::npos) << t.what << ": " << c.error().message;
  }
}

}  // namespace
}  // namespace nbd::filters
