// SPDX-License-Identifier: BSD-3-Clause
// Copier tests with real files (holes, zero runs, sizes) and a fake endpoint that fails.
#include "copier.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "endpoint.h"
#include "io_util.h"

namespace nbd::copy {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/nbdcopy_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)!std::system(("rm -rf " + path_).c_str()); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A 4 MiB image: random data, a hole, a run of written zeroes, more data, a short tail.
std::string make_image(const std::string& path) {
  std::string img(4 * 1024 * 1024 + 1000, '\0');
  std::mt19937 rng(42);
  for (size_t i = 0; i < 1024 * 1024; ++i) img[i] = static_cast<char>(rng());
  for (size_t i = 3 * 1024 * 1024; i < img.size(); ++i) img[i] = static_cast<char>(rng() | 1);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  EXPECT_TRUE(pwrite_full(fd, {reinterpret_cast<const std::byte*>(img.data()), 1024 * 1024}, 0));
  // 2M..3M written as zeroes (allocated), 1M..2M left as a hole.
  std::string zeros(1024 * 1024, '\0');
  EXPECT_TRUE(pwrite_full(fd, {reinterpret_cast<const std::byte*>(zeros.data()), zeros.size()}, 2 << 20));
  EXPECT_TRUE(pwrite_full(
      fd, {reinterpret_cast<const std::byte*>(img.data()) + (3 << 20), img.size() - (3 << 20)}, 3 << 20));
  ::close(fd);
  return img;
}

Status copy_files(const std::string& from, const std::string& to, CopyOptions o, bool sync) {
  NBD_TRY_ASSIGN(auto src, open_file_endpoint(from, Role::Source));
  NBD_TRY_ASSIGN(auto dst, open_file_endpoint(to, Role::Destination));
  NBD_TRY_ASSIGN(bool zero, dst->prepare_destination(src->size()));
  Progress p(Progress::Mode::Off, -1, *src->size());
  auto st = sync ? copy_sync(*src, *dst, o, zero, p) : copy_multi(*src, *dst, o, zero, p);
  if (st) {
    EXPECT_EQ(p.done(), *src->size());
  }
  return st;
}

TEST(Copier, MultiCopiesFileWithHolesAndZeroes) {
  TempDir d;
  std::string img = make_image(d.file("src"));
  CopyOptions o;
  o.connections = 3;
  o.threads = 2;  // one thread runs two workers' loops
  o.request_size = 64 * 1024;
  ASSERT_TRUE(copy_files(d.file("src"), d.file("dst"), o, false));
  EXPECT_EQ(slurp(d.file("dst")), img);
  struct stat st;
  ASSERT_EQ(::stat(d.file("dst").c_str(), &st), 0);
  // The hole and the zero run stay unallocated: about 2 MiB of data blocks.
  EXPECT_LT(st.st_blocks * 512, 2.5 * 1024 * 1024);
}

TEST(Copier, SyncCopiesAndShrinksALargerDestination) {
  TempDir d;
  std::string img = make_image(d.file("src"));
  std::ofstream(d.file("dst")) << std::string(8 << 20, 'x');
  ASSERT_TRUE(copy_files(d.file("src"), d.file("dst"), CopyOptions{}, true));
  EXPECT_EQ(slurp(d.file("dst")), img);
}

TEST(Copier, AllocatedLeavesNoHoles) {
  TempDir d;
  std::string img = make_image(d.file("src"));
  CopyOptions o;
  o.allocated = true;
  o.connections = 2;
  o.threads = 2;
  ASSERT_TRUE(copy_files(d.file("src"), d.file("dst"), o, false));
  EXPECT_EQ(slurp(d.file("dst")), img);
  struct stat st;
  ASSERT_EQ(::stat(d.file("dst").c_str(), &st), 0);
  EXPECT_GE(st.st_blocks * 512, 4 * 1024 * 1024);
}

TEST(Copier, NoExtentsAndNoSparseStillCopyExactly) {
  TempDir d;
  std::string img = make_image(d.file("src"));
  CopyOptions o;
  o.no_extents = true;
  o.sparse = 0;
  ASSERT_TRUE(copy_files(d.file("src"), d.file("dst"), o, false));
  EXPECT_EQ(slurp(d.file("dst")), img);
}

TEST(SplitRuns, FindsAlignedZeroBlocks) {
  std::vector<std::byte> buf(16384, std::byte{0});
  buf[100] = std::byte{1};    // block 0 (offset 4096..8191 on disk) has data
  buf[13000] = std::byte{1};  // disk offset 17096: the block at 16384..20479
  std::vector<Extent> runs;
  split_runs(buf, 4096, 4096, runs);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].offset, 4096u);
  EXPECT_EQ(runs[0].length, 4096u);
  EXPECT_FALSE(runs[0].reads_as_zero());
  EXPECT_EQ(runs[1].offset, 8192u);
  EXPECT_EQ(runs[1].length, 8192u);
  EXPECT_TRUE(runs[1].reads_as_zero());
  EXPECT_FALSE(runs[2].reads_as_zero());
  // A zero piece smaller than a block is data.
  split_runs(std::span(buf).subspan(200, 1000), 200, 4096, runs);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_FALSE(runs[0].reads_as_zero());
}

TEST(SplitExtent, DataPiecesEndOnRequestBoundaries) {
  std::vector<Extent> out;
  split_extent({1000, 300000, 0}, 65536, 1 << 30, out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].offset, 1000u);
  EXPECT_EQ(out[0].length, 65536u - 1000u);
  EXPECT_EQ(out[1].offset, 65536u);
  uint64_t total = 0;
  for (auto& e : out) total += e.length;
  EXPECT_EQ(total, 300000u);
  out.clear();
  split_extent({0, 3ull << 30, kExtentHole | kExtentZero}, 65536, 1 << 30, out);
  EXPECT_EQ(out.size(), 3u);
}

// An endpoint whose reads fail at one offset: the copy must fail and say where.
class FailingChannel final : public Channel {
 public:
  void read(std::span<std::byte> buf, uint64_t offset, Completion& c, size_t*) override {
    if (offset <= kBad && kBad < offset + buf.size())
      return c.complete(make_error(EIO, "Input/output error"));
    std::fill(buf.begin(), buf.end(), std::byte{7});
    c.complete(ok());
  }
  void write(std::span<const std::byte>, uint64_t, Completion& c) override { c.complete(ok()); }
  void zero(uint64_t, uint64_t, bool, Completion& c) override { c.complete(ok()); }
  Status extents(uint64_t count, uint64_t offset, std::vector<Extent>& out) override {
    out.push_back({offset, count, 0});
    return ok();
  }
  Status flush() override { return ok(); }
  static constexpr uint64_t kBad = 5 << 20;
};

class FailingEndpoint final : public Endpoint {
 public:
  const std::string& name() const override { return name_; }
  std::optional<uint64_t> size() const override { return 8 << 20; }
  Result<bool> prepare_destination(std::optional<uint64_t>) override { return false; }
  Result<std::unique_ptr<Channel>> open_channel() override {
    return std::unique_ptr<Channel>(std::make_unique<FailingChannel>());
  }

 private:
  std::string name_ = "failing";
};

TEST(Copier, ReadErrorFailsTheCopyInBothCopiers) {
  for (bool sync : {false, true}) {
    FailingEndpoint src;
    auto dst = open_null_endpoint();
    ASSERT_TRUE(dst);
    CopyOptions o;
    o.connections = 4;
    o.threads = 2;
    o.request_size = 64 * 1024;  // the failing request starts exactly at the bad offset
    Progress p(Progress::Mode::Off, -1, 8 << 20);
    auto st = sync ? copy_sync(src, **dst, o, true, p) : copy_multi(src, **dst, o, true, p);
    ASSERT_FALSE(st) << "sync=" << sync;
    EXPECT_EQ(st.error().message, "failing: read at offset 5242880 failed: Input/output error");
  }
}

TEST(Progress, LinesLookLikeUpstream) {
  EXPECT_EQ(Progress::machine_line(42), "42/100\n");
  EXPECT_EQ(Progress::bar_line(100, 0).size(), 1 + 1 + 5 + 2 + 40 + 1);
}

}  // namespace
}  // namespace nbd::copy
