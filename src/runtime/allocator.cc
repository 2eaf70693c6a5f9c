// SPDX-License-Identifier: BSD-3-Clause
// The "sparse" allocator (a SparseArray under a read-write lock), the blit shared by all
// allocators, and create_allocator, which parses upstream's allocator= syntax.
#include "runtime/allocator.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/sparse_array.h"
#include "common/zero.h"
#include "nbd/parse.h"
#include "runtime/allocator_internal.h"

namespace nbd {
namespace {

class SparseAllocator final : public Allocator {
 public:
  Status set_size_hint(uint64_t) override { return ok(); }

  Status read(std::span<std::byte> buf, uint64_t offset) override {
    std::shared_lock lock(mu_);
    array_.read(buf, offset);
    return ok();
  }
  Status write(std::span<const std::byte> buf, uint64_t offset) override {
    // Overwriting allocated pages leaves the directory alone, so it can run beside reads and
    // other writes (like upstream's malloc allocator, concurrent requests to the same bytes
    // get no ordering, which NBD does not promise either). Only allocation is exclusive.
    {
      std::shared_lock lock(mu_);
      if (array_.write_if_allocated(buf, offset)) return ok();
    }
    std::unique_lock lock(mu_);
    return array_.write(buf, offset);
  }
  Status fill(std::byte c, uint64_t count, uint64_t offset) override {
    std::unique_lock lock(mu_);
    return array_.fill(c, count, offset);
  }
  Status zero(uint64_t count, uint64_t offset) override {
    std::unique_lock lock(mu_);
    array_.zero(count, offset);
    return ok();
  }
  Status blit(Allocator& src, uint64_t count, uint64_t src_offset, uint64_t offset) override {
    return blit_between(src, *this, count, src_offset, offset);
  }
  Status extents(uint64_t count, uint64_t offset, ExtentList& extents) override {
    std::shared_lock lock(mu_);
    Status st;
    array_.for_each_run(count, offset, [&](uint64_t at, uint64_t len, bool allocated) {
      st = extents.add(at, len, allocated ? 0 : kExtentHole | kExtentZero);
      return st.has_value();
    });
    return st;
  }
  uint64_t allocated_bytes() const override {
    std::shared_lock lock(mu_);
    return array_.allocated_pages() * SparseArray::kPageSize;
  }

 private:
  mutable std::shared_mutex mu_;
  SparseArray array_;
};

// Copies [src_offset, +count) of src to [offset, +count) of dst through a bounce buffer,
// chunk by chunk; backwards when dst overlaps the tail of the same source, like memmove.
Status copy_chunks(Allocator& src, Allocator& dst, uint64_t count, uint64_t src_offset, uint64_t offset,
                   bool backwards) {
  constexpr uint64_t kChunk = 1 << 20;
  std::vector<std::byte> buf(static_cast<size_t>(std::min(count, kChunk)));
  for (uint64_t done = 0; done < count;) {
    uint64_t n = std::min(count - done, kChunk);
    uint64_t rel = backwards ? count - done - n : done;
    std::span<std::byte> b(buf.data(), static_cast<size_t>(n));
    NBD_TRY(src.read(b, src_offset + rel));
    if (is_zero(b)) {
      NBD_TRY(dst.zero(n, offset + rel));
    } else {
      NBD_TRY(dst.write(b, offset + rel));
    }
    done += n;
  }
  return ok();
}

}  // namespace

Status blit_between(Allocator& src, Allocator& dst, uint64_t count, uint64_t src_offset, uint64_t offset) {
  if (&src == &dst && offset > src_offset && offset - src_offset < count) {
    return copy_chunks(src, dst, count, src_offset, offset, true);
  }
  // Walk the source's extents so that holes (possibly huge) become cheap zero() calls.
  constexpr uint64_t kWindow = uint64_t{1} << 30;
  for (uint64_t done = 0; done < count;) {
    uint64_t n = std::min(count - done, kWindow);
    ExtentList list(src_offset + done, src_offset + done + n);
    NBD_TRY(src.extents(n, src_offset + done, list));
    uint64_t covered = done;
    for (const Extent& e : list.extents()) {
      uint64_t rel = e.offset - src_offset;
      if (e.flags & kExtentZero) {
        NBD_TRY(dst.zero(e.length, offset + rel));
      } else {
        NBD_TRY(copy_chunks(src, dst, e.length, e.offset, offset + rel, false));
      }
      covered = rel + e.length;
    }
    if (covered == done) return make_error(EIO, "allocator: source reported no extents");
    done = covered;
  }
  return ok();
}

Result<std::unique_ptr<Allocator>> create_allocator(std::string_view spec) {
  std::string_view type = spec.substr(0, spec.find(','));
  std::string_view rest = type.size() < spec.size() ? spec.substr(type.size() + 1) : std::string_view{};
  auto bad = [&](const std::string& why) {
    return make_error(EINVAL, "allocator=" + std::string(spec) + ": " + why);
  };
  bool mlock = false;
  while (!rest.empty()) {
    std::string_view item = rest.substr(0, rest.find(','));
    rest = item.size() < rest.size() ? rest.substr(item.size() + 1) : std::string_view{};
    size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    if (type != "malloc" || key != "mlock" || eq == std::string_view::npos) {
      return bad("unknown parameter '" + std::string(item) + "' (only malloc takes one: mlock=true|false)");
    }
    auto v = parse_bool("mlock", item.substr(eq + 1));
    if (!v) return bad(v.error().message);
    mlock = *v;
  }
  if (type == "sparse") return std::unique_ptr<Allocator>(std::make_unique<SparseAllocator>());
  if (type == "malloc") return create_malloc_allocator(mlock);
  if (type == "zstd") return create_zstd_allocator();
  return bad("unknown allocator '" + std::string(type) + "' (use sparse, malloc or zstd)");
}

}  // namespace nbd
