// SPDX-License-Identifier: BSD-3-Clause
// The "zstd" allocator (upstream's allocator=zstd): a sparse array of 32 KiB pages, each kept
// compressed with zstd. Unwritten and all-zero pages take no memory at all; a page of text or
// of a file system's metadata takes a fraction of its size. Reads decompress under a shared
// lock (each thread has its own zstd contexts); writes recompress under an exclusive one.
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "common/zero.h"
#include "runtime/allocator_internal.h"

namespace nbd {
namespace {

constexpr uint64_t kPage = 32 * 1024;

struct Contexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  std::vector<std::byte> page = std::vector<std::byte>(kPage);  // a read's partial page
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
Contexts& contexts() {
  thread_local Contexts ctx;
  return ctx;
}

class ZstdAllocator final : public Allocator {
 public:
  Status set_size_hint(uint64_t) override { return ok(); }

  Status read(std::span<std::byte> buf, uint64_t offset) override {
    std::shared_lock lock(mu_);
    return for_pages(buf.size(), offset, [&](uint64_t no, uint64_t in, uint64_t n, uint64_t done) -> Status {
      auto it = pages_.find(no);
      if (it == pages_.end()) {
        std::memset(buf.data() + done, 0, n);
        return ok();
      }
      // A whole page decompresses straight into the caller's buffer.
      if (n == kPage) return decompress(it->second, buf.data() + done);
      std::byte* page = contexts().page.data();
      NBD_TRY(decompress(it->second, page));
      std::memcpy(buf.data() + done, page + in, n);
      return ok();
    });
  }

  Status write(std::span<const std::byte> buf, uint64_t offset) override {
    std::unique_lock lock(mu_);
    return for_pages(buf.size(), offset, [&](uint64_t no, uint64_t in, uint64_t n, uint64_t done) {
      return update(no, in, n, [&](std::byte* p) { std::memcpy(p, buf.data() + done, n); });
    });
  }

  Status fill(std::byte c, uint64_t count, uint64_t offset) override {
    if (c == std::byte{0}) return zero(count, offset);
    std::unique_lock lock(mu_);
    return for_pages(count, offset, [&](uint64_t no, uint64_t in, uint64_t n, uint64_t) {
      return update(no, in, n, [&](std::byte* p) { std::memset(p, int(c), n); });
    });
  }

  Status zero(uint64_t count, uint64_t offset) override {
    std::unique_lock lock(mu_);
    // Whole pages are dropped without looking at them, so zeroing a huge range is cheap.
    uint64_t end = offset + count;
    uint64_t first_whole = (offset + kPage - 1) / kPage, end_whole = end / kPage;
    if (first_whole < end_whole) {
      auto it = pages_.lower_bound(first_whole);
      while (it != pages_.end() && it->first < end_whole) {
        stored_ -= it->second.size();
        it = pages_.erase(it);
      }
    }
    // Then at most the partial pages at the two ends.
    auto partial = [&](uint64_t from, uint64_t to) -> Status {
      uint64_t no = from / kPage;
      if (from >= to || pages_.find(no) == pages_.end()) return ok();
      return update(no, from % kPage, to - from, [&](std::byte* p) { std::memset(p, 0, to - from); });
    };
    if (first_whole > end_whole) return partial(offset, end);  // inside one page
    NBD_TRY(partial(offset, first_whole * kPage));
    return partial(end_whole * kPage, end);
  }

  Status blit(Allocator& src, uint64_t count, uint64_t src_offset, uint64_t offset) override {
    return blit_between(src, *this, count, src_offset, offset);
  }

  Status extents(uint64_t count, uint64_t offset, ExtentList& extents) override {
    std::shared_lock lock(mu_);
    uint64_t end = offset + count, at = offset;
    for (auto it = pages_.lower_bound(offset / kPage); it != pages_.end() && at < end; ++it) {
      uint64_t start = it->first * kPage, stop = std::min(end, start + kPage);
      if (start > at) NBD_TRY(extents.add(at, std::min(start, end) - at, kExtentHole | kExtentZero));
      if (start >= end) return ok();
      at = std::max(at, start);
      NBD_TRY(extents.add(at, stop - at, 0));
      at = stop;
    }
    if (at < end) NBD_TRY(extents.add(at, end - at, kExtentHole | kExtentZero));
    return ok();
  }

  uint64_t allocated_bytes() const override {
    std::shared_lock lock(mu_);
    return stored_;
  }

 private:
  // Calls f(page number, offset in the page, bytes, bytes done so far) for each page of the range.
  template <class F>
  static Status for_pages(uint64_t count, uint64_t offset, F&& f) {
    for (uint64_t done = 0; done < count;) {
      uint64_t at = offset + done, no = at / kPage, in = at % kPage;
      uint64_t n = std::min(count - done, kPage - in);
      NBD_TRY(f(no, in, n, done));
      done += n;
    }
    return ok();
  }

  static Status decompress(const std::vector<std::byte>& z, std::byte* page) {
    size_t r = ZSTD_decompressDCtx(contexts().d, page, kPage, z.data(), z.size());
    if (ZSTD_isError(r) || r != kPage)
      return make_error(EIO, std::string("allocator=zstd: a stored page does not decompress: ") +
                                 (ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong size"));
    return ok();
  }

  // Changes n bytes at in of page no with edit (on the whole decompressed page), then stores it
  // compressed, or drops it when it became all zero. Called with the lock held exclusively.
  template <class Edit>
  Status update(uint64_t no, uint64_t in, uint64_t n, Edit&& edit) {
    page_.resize(kPage);
    auto it = pages_.find(no);
    if (n == kPage) {
      // The whole page is replaced: nothing to decompress.
    } else if (it == pages_.end()) {
      std::memset(page_.data(), 0, kPage);
    } else {
      NBD_TRY(decompress(it->second, page_.data()));
    }
    edit(page_.data() + in);
    if (is_zero(std::span<const std::byte>(page_.data(), kPage))) {
      if (it != pages_.end()) {
        stored_ -= it->second.size();
        pages_.erase(it);
      }
      return ok();
    }
    z_.resize(ZSTD_compressBound(kPage));
    size_t r =
        ZSTD_compressCCtx(contexts().c, z_.data(), z_.size(), page_.data(), kPage, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(r))
      return make_error(EIO, std::string("allocator=zstd: compression failed: ") + ZSTD_getErrorName(r));
    std::vector<std::byte> stored(z_.begin(), z_.begin() + std::ptrdiff_t(r));
    if (it != pages_.end()) {
      stored_ -= it->second.size();
      it->second = std::move(stored);
    } else {
      pages_.emplace(no, std::move(stored));
    }
    stored_ += r;
    return ok();
  }

  mutable std::shared_mutex mu_;
  std::map<uint64_t, std::vector<std::byte>> pages_;  // page number -> compressed page
  uint64_t stored_ = 0;                               // bytes of compressed pages
  std::vector<std::byte> page_, z_;                   // scratch, under the exclusive lock
};

}  // namespace

Result<std::unique_ptr<Allocator>> create_zstd_allocator() {
  return std::unique_ptr<Allocator>(std::make_unique<ZstdAllocator>());
}

}  // namespace nbd
