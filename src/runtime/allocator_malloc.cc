// SPDX-License-Identifier: BSD-3-Clause
// The "malloc" allocator: one flat anonymous mapping (zero-filled lazily by the kernel) that
// grows with mremap. Reads and writes inside it share the lock, so they run in parallel.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "runtime/allocator_internal.h"

namespace nbd {
namespace {

class MallocAllocator final : public Allocator {
 public:
  explicit MallocAllocator(bool mlock) : mlock_(mlock) {}
  ~MallocAllocator() override {
    if (buf_) munmap(buf_, cap_);
  }

  Status set_size_hint(uint64_t size) override {
    std::unique_lock lock(mu_);
    return grow(size);
  }

  Status read(std::span<std::byte> buf, uint64_t offset) override {
    std::shared_lock lock(mu_);
    uint64_t have = offset < cap_ ? std::min<uint64_t>(buf.size(), cap_ - offset) : 0;
    if (have) std::memcpy(buf.data(), buf_ + offset, have);
    std::memset(buf.data() + have, 0, buf.size() - have);
    return ok();
  }

  Status write(std::span<const std::byte> buf, uint64_t offset) override {
    NBD_TRY(reserve(offset + buf.size()));
    std::shared_lock lock(mu_);
    std::memcpy(buf_ + offset, buf.data(), buf.size());
    return ok();
  }

  Status fill(std::byte c, uint64_t count, uint64_t offset) override {
    if (c == std::byte{0}) return zero(count, offset);
    NBD_TRY(reserve(offset + count));
    std::shared_lock lock(mu_);
    std::memset(buf_ + offset, static_cast<int>(c), count);
    return ok();
  }

  Status zero(uint64_t count, uint64_t offset) override {
    std::shared_lock lock(mu_);
    if (offset >= cap_) return ok();
    count = std::min(count, cap_ - offset);
    // Give whole pages back to the kernel (they read as zero again); locked memory must
    // stay resident, so it is only cleared.
    uint64_t pg = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t a = (offset + pg - 1) / pg * pg, b = (offset + count) / pg * pg;
    if (!mlock_ && b > a && b - a >= 4 * pg && madvise(buf_ + a, b - a, MADV_DONTNEED) == 0) {
      std::memset(buf_ + offset, 0, a - offset);
      std::memset(buf_ + b, 0, offset + count - b);
      return ok();
    }
    std::memset(buf_ + offset, 0, count);
    return ok();
  }

  Status blit(Allocator& src, uint64_t count, uint64_t src_offset, uint64_t offset) override {
    return blit_between(src, *this, count, src_offset, offset);
  }

  Status extents(uint64_t count, uint64_t offset, ExtentList& extents) override {
    return extents.add(offset, count, 0);  // a flat buffer cannot tell holes from data
  }

  uint64_t allocated_bytes() const override {
    std::shared_lock lock(mu_);
    return cap_;
  }

 private:
  Status reserve(uint64_t end) {
    {
      std::shared_lock lock(mu_);
      if (end <= cap_) return ok();
    }
    std::unique_lock lock(mu_);
    return grow(end);
  }

  // Caller holds mu_ exclusively.
  Status grow(uint64_t size) {
    if (size <= cap_) return ok();
    uint64_t pg = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t want = (size + pg - 1) / pg * pg;
    if (want < size || want > SIZE_MAX) {
      return make_error(ENOMEM, "allocator=malloc: cannot allocate " + std::to_string(size) + " bytes");
    }
    void* p = buf_ ? mremap(buf_, cap_, want, MREMAP_MAYMOVE)
                   : mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                          -1, 0);
    if (p == MAP_FAILED) {
      return make_error(ENOMEM, "allocator=malloc: cannot allocate " + std::to_string(size) +
                                    " bytes: " + std::strerror(errno));
    }
    if (mlock_ && ::mlock(p, want) != 0) {
      int e = errno;
      // Shrink back (in place) so no unlocked memory is left in use.
      if (cap_ == 0) {
        munmap(p, want);
        buf_ = nullptr;
      } else {
        buf_ = static_cast<std::byte*>(mremap(p, want, cap_, 0));
      }
      return make_error(e, "allocator=malloc,mlock=true: mlock of " + std::to_string(want) +
                               " bytes failed: " + std::strerror(e) + " (raise ulimit -l)");
    }
    buf_ = static_cast<std::byte*>(p);
    cap_ = want;
    return ok();
  }

  const bool mlock_;
  mutable std::shared_mutex mu_;
  std::byte* buf_ = nullptr;
  uint64_t cap_ = 0;
};

}  // namespace

Result<std::unique_ptr<Allocator>> create_malloc_allocator(bool mlock) {
  return std::unique_ptr<Allocator>(std::make_unique<MallocAllocator>(mlock));
}

}  // namespace nbd
