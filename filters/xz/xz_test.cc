// SPDX-License-Identifier: BSD-3-Clause
// xz filter over the in-memory fake disk holding .xz files made here with liblzma's encoder:
// contents through block boundaries and streams, the cache, parameters, refusals, corrupt and
// truncated files (every byte mutated), and blocks decoding at the same time.
#include <gtest/gtest.h>
#include <lzma.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fixtures/fake_disk.h"
#include "xz_file.h"

namespace nbd::filters {
extern const FilterInfo xz_filter_info;
namespace {

using namespace nbd::testing;
using Bytes = std::vector<std::byte>;

// Compressible but not trivial: runs of text, of pseudo-random bytes and of zeros.
Bytes make_data(size_t n, uint32_t seed = 1) {
  Bytes d(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    switch ((i / 1000) % 3) {
      case 0: d[i] = std::byte("the quick brown fox "[i % 20] + (i / 20000) % 5); break;
      case 1: d[i] = std::byte(x >> 24); break;
      default: d[i] = std::byte{0};
    }
  }
  return d;
}

// One .xz stream of `data` in blocks of block_size bytes (0: one block), as xz -T1 --block-size.
Bytes xz_stream(const Bytes& data, uint64_t block_size, lzma_check check = LZMA_CHECK_CRC64) {
  lzma_stream s = LZMA_STREAM_INIT;
  if (block_size == 0) {
    EXPECT_EQ(lzma_easy_encoder(&s, 1, check), LZMA_OK);  // one block, as xz without --block-size
  } else {
    lzma_mt mt{};
    mt.threads = 1;
    mt.block_size = block_size;
    mt.preset = 1;
    mt.check = check;
    EXPECT_EQ(lzma_stream_encoder_mt(&s, &mt), LZMA_OK);
  }
  Bytes out(data.size() + data.size() / 2 + 4096);
  s.next_in = reinterpret_cast<const uint8_t*>(data.data());
  s.avail_in = data.size();
  s.next_out = reinterpret_cast<uint8_t*>(out.data());
  s.avail_out = out.size();
  lzma_ret r;
  do r = lzma_code(&s, LZMA_FINISH);
  while (r == LZMA_OK);
  EXPECT_EQ(r, LZMA_STREAM_END);
  out.resize(s.total_out);
  lzma_end(&s);
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

xz::XzIndex index_of(const Bytes& file) {
  auto r = xz::XzIndex::read(
      [&](std::span<std::byte> b, uint64_t off) {
        std::copy_n(file.begin() + off, b.size(), b.begin());
        return ok();
      },
      file.size());
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return *r;
}

// A fake disk holding a file, and the filter's connection over it.
struct Served {
  explicit Served(const Bytes& file) : disk(file.size()) { disk.bytes() = file; }
  Result<std::unique_ptr<Connection>> open(std::vector<std::pair<std::string, std::string>> kv = {}) {
    filters.push_back(xz_filter_info.factory());
    NBD_TRY(configure(*filters.back(), kv));
    return open_over(*filters.back(), disk, OpenParams{});
  }
  size_t preads_at(uint64_t offset) {
    size_t n = 0;
    for (auto& c : disk.calls()) n += c.op == "pread" && c.offset == offset;
    return n;
  }
  FakeDisk disk;
  std::vector<std::unique_ptr<Filter>> filters;  // outlive their connections
};

Bytes read(Connection& c, uint64_t offset, size_t n) {
  Bytes b(n);
  Status s = c.pread(b, offset, 0);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return b;
}

Bytes slice(const Bytes& d, uint64_t offset, size_t n) {
  return Bytes(d.begin() + offset, d.begin() + offset + n);
}

std::string open_error(Served& s, std::vector<std::pair<std::string, std::string>> kv = {}) {
  auto c = s.open(std::move(kv));
  return c ? "opened" : c.error().message;
}

TEST(XzFilter, ReadsAcrossBlockBoundaries) {
  const Bytes data = make_data(300000);
  const Bytes file = xz_stream(data, 65536);
  ASSERT_EQ(index_of(file).blocks().size(), 5u);
  Served s(file);
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*(*c)->get_size(), data.size());
  EXPECT_FALSE(*(*c)->can_write());
  EXPECT_TRUE(*(*c)->can_multi_conn());
  EXPECT_EQ(read(**c, 0, data.size()), data);
  for (uint64_t off : {0ul, 1ul, 65535ul, 65536ul, 131000ul, 196607ul, 262100ul, 299000ul}) {
    size_t n = size_t(std::min<uint64_t>(data.size() - off, 70000));
    EXPECT_EQ(read(**c, off, n), slice(data, off, n)) << "offset " << off;
  }
  EXPECT_EQ(read(**c, 299999, 1), slice(data, 299999, 1));
  // Writes are refused before they reach the filter: the export is read-only.
  EXPECT_FALSE((*c)->pwrite(data, 0, 0));
  EXPECT_NE(read(**c, 70000, 10), slice(data, 0, 10)) << "a read at another offset differs";
}

TEST(XzFilter, MultipleStreamsWithPaddingAndChecks) {
  const Bytes a = make_data(100000, 1), b = make_data(50000, 2), c = make_data(3000, 3);
  const Bytes pad8(8), pad4(4);
  const Bytes file = cat({xz_stream(a, 32768), pad8, xz_stream(b, 20000, LZMA_CHECK_CRC32), xz_stream({}, 0),
                          xz_stream(c, 0, LZMA_CHECK_SHA256), pad4});
  auto idx = index_of(file);
  EXPECT_EQ(idx.streams(), 4u);
  EXPECT_EQ(idx.blocks().size(), 4u + 3u + 1u);
  Served s(file);
  auto conn = s.open();
  ASSERT_TRUE(conn) << conn.error().message;
  const Bytes all = cat({a, b, c});
  EXPECT_EQ(*(*conn)->get_size(), all.size());
  EXPECT_EQ(read(**conn, 0, all.size()), all);
  EXPECT_EQ(read(**conn, 99990, 20), slice(all, 99990, 20)) << "across the first stream's end";
  EXPECT_EQ(read(**conn, 149999, 2), slice(all, 149999, 2)) << "across the empty stream";
}

TEST(XzFilter, EmptyStreamIsAnEmptyExport) {
  Served s(xz_stream({}, 0));
  auto c = s.open();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*(*c)->get_size(), 0u);
}

TEST(XzFilter, CacheKeepsMaxDepthBlocks) {
  const Bytes data = make_data(4 * 16384);
  const Bytes file = xz_stream(data, 16384);
  const auto idx = index_of(file);
  ASSERT_EQ(idx.blocks().size(), 4u);
  auto decodes = [&](Served& s, size_t block) { return s.preads_at(idx.blocks()[block].coffset); };
  Served s(file);
  auto c = s.open({{"xz-max-depth", "2"}});
  ASSERT_TRUE(c);
  s.disk.clear_calls();
  for (size_t b : {0, 1, 0, 1, 0}) EXPECT_EQ(read(**c, b * 16384 + 5, 100), slice(data, b * 16384 + 5, 100));
  EXPECT_EQ(decodes(s, 0), 1u);
  EXPECT_EQ(decodes(s, 1), 1u);
  for (size_t b : {2, 1, 0}) EXPECT_EQ(read(**c, b * 16384, 16384), slice(data, b * 16384, 16384));
  // 2 pushed out 1 (least recently used), so 1 was decoded again, pushing out 0.
  EXPECT_EQ(decodes(s, 1), 2u);
  EXPECT_EQ(decodes(s, 0), 2u);
  EXPECT_EQ(decodes(s, 2), 1u);
}

TEST(XzFilter, RefusesABigSingleBlockFileSayingHowToRecompress) {
  Served big(xz_stream(Bytes(17 << 20), 0));
  EXPECT_NE(open_error(big).find("single block of 17825792 bytes"), std::string::npos) << open_error(big);
  EXPECT_NE(open_error(big).find("xz --block-size=16MiB"), std::string::npos);
  // One block no larger than what --block-size=16MiB would make is served.
  const Bytes data = make_data(100000);
  Served small(xz_stream(data, 0));
  auto c = small.open();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(read(**c, 0, data.size()), data);
}

TEST(XzFilter, RefusesBlocksLargerThanMaxBlock) {
  Served s(xz_stream(make_data(100000), 65536));
  std::string e = open_error(s, {{"xz-max-block", "64K"}});
  EXPECT_EQ(e, "opened") << "a limit equal to the block size";
  e = open_error(s, {{"xz-max-block", "65535"}});
  EXPECT_NE(e.find("block of 65536 bytes, larger than xz-max-block=65535"), std::string::npos) << e;
}

TEST(XzFilter, RejectsBadParameters) {
  const std::pair<std::string, std::string> bad[] = {{"xz-max-block", "foo"}, {"xz-max-block", "0"},
                                                     {"xz-max-block", "-1"},  {"xz-max-depth", "0"},
                                                     {"xz-max-depth", "x"},   {"xz-max-depth", "-2"}};
  for (auto& [k, v] : bad) {
    auto f = xz_filter_info.factory();
    auto r = f->config(k, v);
    ASSERT_FALSE(r) << k << "=" << v;
    EXPECT_NE(r.error().message.find(k), std::string::npos) << r.error().message;
  }
  auto f = xz_filter_info.factory();
  EXPECT_TRUE(*f->config("xz-max-depth", "100"));
  EXPECT_TRUE(*f->config("xz-max-block", "1M"));
  EXPECT_FALSE(*f->config("file", "x.xz")) << "the plugin's keys pass on";
}

TEST(XzFilter, RefusesFilesThatAreNotXzOrTruncated) {
  Served notxz(make_data(4096));
  EXPECT_NE(open_error(notxz).find("not an xz file"), std::string::npos) << open_error(notxz);
  Served empty(Bytes{});
  EXPECT_NE(open_error(empty).find("not an xz file"), std::string::npos);
  const Bytes file = xz_stream(make_data(50000), 8192);
  for (size_t n = 0; n < file.size(); ++n) {
    Served s(slice(file, 0, n));
    EXPECT_NE(open_error(s), "opened") << "truncated to " << n << " bytes";
  }
  Bytes garbage = cat({file, Bytes{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}}});
  Served g(garbage);
  EXPECT_NE(open_error(g).find("no stream footer"), std::string::npos) << open_error(g);
}

TEST(XzFilter, CorruptFooterIndexAndHeaderAreClearErrorsAtOpen) {
  const Bytes file = xz_stream(make_data(50000), 8192);
  const auto idx = index_of(file);
  auto with = [&](size_t at, uint8_t x) {
    Bytes f = file;
    f[at] ^= std::byte(x);
    Served s(f);
    return open_error(s);
  };
  EXPECT_NE(with(file.size() - 1, 1).find("no stream footer"), std::string::npos);   // footer magic
  EXPECT_NE(with(file.size() - 8, 1).find("bad stream footer"), std::string::npos);  // backward size, CRC
  const uint64_t index_at = idx.blocks().back().coffset + idx.blocks().back().total_size;
  EXPECT_NE(with(index_at + 2, 0x40).find("bad index"), std::string::npos) << with(index_at + 2, 0x40);
  EXPECT_NE(with(7, 1).find("bad stream header"), std::string::npos) << with(7, 1);  // flags, CRC
}

TEST(XzFilter, CorruptBlockOrCheckIsEioOnThatBlockOnly) {
  const Bytes data = make_data(5 * 8192);
  const Bytes file = xz_stream(data, 8192);
  const auto idx = index_of(file);
  const auto& b1 = idx.blocks()[1];
  for (uint64_t at :
       {b1.coffset + 1, b1.coffset + 40, b1.coffset + b1.total_size - 3}) {  // header, data, CRC64
    Bytes f = file;
    f[at] ^= std::byte{0x10};
    Served s(f);
    auto c = s.open();
    ASSERT_TRUE(c) << c.error().message;
    Bytes buf(100);
    Status st = (*c)->pread(buf, 8192 + 10, 0);
    ASSERT_FALSE(st) << "byte " << at;
    EXPECT_EQ(st.error().errnum, EIO);
    EXPECT_NE(st.error().message.find("at file offset " + std::to_string(b1.coffset)), std::string::npos)
        << st.error().message;
    EXPECT_EQ(read(**c, 0, 8192), slice(data, 0, 8192));
    EXPECT_EQ(read(**c, 16384, 8192), slice(data, 16384, 8192));
    EXPECT_FALSE((*c)->pread(buf, 8192, 0)) << "a failed block is not cached";
  }
}

// Every byte of a small two-stream file flipped three ways, and every truncation: the open
// fails with a message, or every read either fails with EIO or returns the original bytes.
TEST(XzFilter, NoMutationOrTruncationCrashesOrReturnsWrongBytes) {
  const Bytes a = make_data(9000, 5), b = make_data(3000, 6);
  const Bytes file = cat({xz_stream(a, 4096), Bytes(4), xz_stream(b, 1024, LZMA_CHECK_CRC32)});
  const Bytes all = cat({a, b});
  size_t opened = 0, failed_reads = 0;
  auto probe = [&](const Bytes& f, const std::string& what) {
    Served s(f);
    auto c = s.open();
    if (!c) {
      EXPECT_FALSE(c.error().message.empty()) << what;
      return;
    }
    ++opened;
    uint64_t size = *(*c)->get_size();
    ASSERT_LE(size, all.size()) << what;
    for (uint64_t off = 0; off < size; off += 1000) {
      Bytes buf(size_t(std::min<uint64_t>(1000, size - off)));
      Status st = (*c)->pread(buf, off, 0);
      if (!st) {
        EXPECT_EQ(st.error().errnum, EIO) << what;
        ++failed_reads;
        continue;
      }
      ASSERT_EQ(buf, slice(all, off, buf.size())) << what << " offset " << off;
    }
  };
  for (size_t i = 0; i < file.size(); ++i)
    for (uint8_t x : {0x01, 0x80, 0xFF}) {
      Bytes f = file;
      f[i] ^= std::byte(x);
      probe(f, "byte " + std::to_string(i) + " ^ " + std::to_string(x));
    }
  for (size_t n = 0; n < file.size(); ++n) probe(slice(file, 0, n), "truncated to " + std::to_string(n));
  EXPECT_GT(opened, 0u) << "mutated block data opens and fails on read";
  EXPECT_GT(failed_reads, 0u);
}

// The layer below, holding reads of compressed blocks (large reads) until `want` are inside at
// once, or until a timeout: how many were ever inside together says whether blocks decode in
// parallel.
class Gate {
 public:
  explicit Gate(int want, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : want_(want), timeout_(timeout) {}
  void enter() {
    std::unique_lock l(mu_);
    max_ = std::max(max_, ++inside_);
    cv_.notify_all();
    cv_.wait_for(l, timeout_, [&] { return inside_ >= want_ || released_; });
    released_ = true;  // once the group met, later reads pass at once
    --inside_;
  }
  int max_inside() {
    std::lock_guard l(mu_);
    return max_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int want_, inside_ = 0, max_ = 0;
  std::chrono::milliseconds timeout_;
  bool released_ = false;
};

class GatedConnection final : public FilterConnection {
 public:
  GatedConnection(std::unique_ptr<Connection> next, Gate& g) : FilterConnection(std::move(next)), gate_(g) {}
  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    if (armed && buf.size() > 64) gate_.enter();
    return next().pread(buf, offset, flags);
  }
  static inline std::atomic<bool> armed{false};

 private:
  Gate& gate_;
};

Result<std::unique_ptr<Connection>> open_gated(Filter& f, FakeDisk& disk, Gate& gate) {
  NextOpen below = [&](const OpenParams& q) -> Result<std::unique_ptr<Connection>> {
    NBD_TRY_ASSIGN(auto l, open_layer(disk, q));
    return std::unique_ptr<Connection>(std::make_unique<GatedConnection>(std::move(l), gate));
  };
  f.bind_below_for_core(below);
  NBD_TRY_ASSIGN(auto c, f.open(OpenParams{}, below));
  NBD_TRY_ASSIGN(auto l, server::Layer::open(std::move(c), false));
  return std::unique_ptr<Connection>(std::move(l));
}

TEST(XzFilter, DifferentBlocksDecodeAtTheSameTime) {
  const Bytes data = make_data(4 * 16384);
  FakeDisk disk(0);
  disk.bytes() = xz_stream(data, 16384);
  Gate gate(2);
  auto f = xz_filter_info.factory();
  auto c = open_gated(*f, disk, gate);
  ASSERT_TRUE(c) << c.error().message;
  GatedConnection::armed = true;
  Bytes r0, r2;
  std::thread t0([&] { r0 = read(**c, 100, 1000); });
  std::thread t2([&] { r2 = read(**c, 2 * 16384 + 100, 1000); });
  t0.join();
  t2.join();
  GatedConnection::armed = false;
  EXPECT_EQ(gate.max_inside(), 2) << "the second block waited for the first one's decode";
  EXPECT_EQ(r0, slice(data, 100, 1000));
  EXPECT_EQ(r2, slice(data, 2 * 16384 + 100, 1000));
}

TEST(XzFilter, OneBlockWantedByManyIsDecodedOnce) {
  const Bytes data = make_data(4 * 16384);
  FakeDisk disk(0);
  disk.bytes() = xz_stream(data, 16384);
  const uint64_t block1 = index_of(disk.bytes()).blocks()[1].coffset;
  // The first decode is held 300 ms, so the other readers arrive while it runs.
  Gate gate(99, std::chrono::milliseconds(300));
  auto f = xz_filter_info.factory();
  auto c = open_gated(*f, disk, gate);
  ASSERT_TRUE(c) << c.error().message;
  disk.clear_calls();
  GatedConnection::armed = true;
  std::vector<std::thread> ts;
  std::vector<Bytes> got(6);
  for (size_t i = 0; i < got.size(); ++i)
    ts.emplace_back([&, i] { got[i] = read(**c, 16384 + i * 1000, 500); });
  for (auto& t : ts) t.join();
  GatedConnection::armed = false;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], slice(data, 16384 + i * 1000, 500));
  size_t decodes = 0;
  for (auto& call : disk.calls()) decodes += call.op == "pread" && call.offset == block1;
  EXPECT_EQ(decodes, 1u);
  EXPECT_EQ(gate.max_inside(), 1);
}

TEST(XzFilter, ManyThreadsRandomReadsWithASmallCache) {
  const Bytes data = make_data(16 * 4096);
  Served s(xz_stream(data, 4096));
  auto c = s.open({{"xz-max-depth", "2"}});
  ASSERT_TRUE(c);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&, t] {
      uint32_t x = t + 1;
      for (int i = 0; i < 200; ++i) {
        x = x * 1103515245u + 12345u;
        uint64_t off = (x >> 8) % (data.size() - 6000);
        Bytes b(6000);
        if (!(*c)->pread(b, off, 0) || b != slice(data, off, b.size())) ++bad;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace nbd::filters
