// SPDX-License-Identifier: BSD-3-Clause
// Image operations: painting one image over another, slicing, repeating without expanding,
// reading bytes back and rendering the non-zero parts into an allocator.
#include "data_image.h"

#include <algorithm>
#include <cstring>

namespace nbd::data {
namespace {

using Kind = ImageExtent::Kind;

constexpr uint64_t kPatternUnitMax = 64 * 1024;  // units up to this size get a pattern buffer
constexpr uint64_t kPatternMin = 4096;
constexpr uint64_t kGranule = 4096;
constexpr uint64_t kRenderChunk = 1 << 20;

bool bytes_zero(const std::byte* p, size_t n) {
  return n == 0 || (p[0] == std::byte{0} && std::memcmp(p, p + 1, n - 1) == 0);
}

ImageExtent zero_extent(uint64_t length) {
  ImageExtent e;
  e.length = length;
  return e;
}

// Moves the start of extent e forward by d bytes (keeping its end).
void advance(ImageExtent& e, uint64_t d) {
  e.offset += d;
  e.length -= d;
  if (e.kind == Kind::Data) e.start += d;
  if (e.kind == Kind::Tile) e.start = (e.start + d) % e.unit->size();
}

// Writes buf at offset, skipping 4 KiB granules that are all zero (the allocator reads them
// as zero already), so zero runs in files and patterns do not cost memory.
Status write_nonzero(Allocator& dst, std::span<const std::byte> buf, uint64_t offset) {
  size_t run_start = 0, i = 0;
  bool in_run = false;
  for (; i < buf.size(); i += kGranule) {
    size_t n = std::min<size_t>(kGranule, buf.size() - i);
    bool zero = bytes_zero(buf.data() + i, n);
    if (!zero && !in_run) run_start = i;
    if (zero && in_run) NBD_TRY(dst.write(buf.subspan(run_start, i - run_start), offset + run_start));
    in_run = !zero;
  }
  if (in_run) NBD_TRY(dst.write(buf.subspan(run_start), offset + run_start));
  return ok();
}

// Copies bytes of a tile extent, starting d bytes into it, into out.
void read_tile(const ImageExtent& e, uint64_t d, std::span<std::byte> out) {
  const uint64_t unit = e.unit->size();
  uint64_t q = (e.start + d % unit) % unit;
  for (size_t done = 0; done < out.size();) {
    if (e.pattern) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, e.pattern->size() - q));
      std::memcpy(out.data() + done, e.pattern->data() + q, n);
      done += n;
      q = (q + n) % unit;
    } else {
      size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, unit - q));
      e.unit->read(out.subspan(done, n), q);
      done += n;
      q = 0;
    }
  }
}

}  // namespace

Image Image::zeroes(uint64_t length) {
  Image img;
  img.extend(length);
  return img;
}

Image Image::from_bytes(Bytes bytes) {
  if (bytes_zero(bytes.data(), bytes.size())) return zeroes(bytes.size());
  Image img;
  ImageExtent e;
  e.kind = Kind::Data;
  e.length = bytes.size();
  e.bytes = std::make_shared<const Bytes>(std::move(bytes));
  img.push(std::move(e));
  return img;
}

bool Image::all_zero() const {
  for (const auto& e : extents_) {
    if (e.kind == Kind::Data && !bytes_zero(e.bytes->data() + e.start, e.length)) return false;
    if (e.kind != Kind::Tile) continue;
    const uint64_t unit = e.unit->size();
    if (e.length >= unit) return false;  // a whole unit, and units are never all zero
    uint64_t first = std::min(e.length, unit - e.start);
    if (!e.unit->slice(e.start, e.start + first).all_zero()) return false;
    if (!e.unit->slice(0, e.length - first).all_zero()) return false;
  }
  return true;
}

void Image::push(ImageExtent e) {
  if (e.length == 0) return;
  if (e.kind == Kind::Data && bytes_zero(e.bytes->data() + e.start, e.length)) {
    e = zero_extent(e.length);
  }
  e.offset = size_;
  size_ += e.length;
  if (e.kind == Kind::Zero && !extents_.empty() && extents_.back().kind == Kind::Zero) {
    extents_.back().length += e.length;
    return;
  }
  extents_.push_back(std::move(e));
}

void Image::extend(uint64_t new_size) {
  if (new_size > size_) push(zero_extent(new_size - size_));
}

size_t Image::split_at(uint64_t pos) {
  if (pos >= size_) return extents_.size();
  auto it = std::upper_bound(extents_.begin(), extents_.end(), pos,
                             [](uint64_t p, const ImageExtent& e) { return p < e.offset; });
  size_t i = static_cast<size_t>(it - extents_.begin()) - 1;
  if (extents_[i].offset == pos) return i;
  ImageExtent tail = extents_[i];
  advance(tail, pos - tail.offset);
  extents_[i].length = pos - extents_[i].offset;
  extents_.insert(extents_.begin() + static_cast<ptrdiff_t>(i) + 1, std::move(tail));
  return i + 1;
}

void Image::paint(uint64_t offset, const Image& src) {
  if (src.size_ == 0) return;
  const uint64_t end = offset + src.size_;
  extend(end);
  size_t i = split_at(offset);
  size_t j = split_at(end);
  std::vector<ImageExtent> repl = src.extents_;
  for (auto& e : repl) e.offset += offset;
  extents_.erase(extents_.begin() + static_cast<ptrdiff_t>(i), extents_.begin() + static_cast<ptrdiff_t>(j));
  extents_.insert(extents_.begin() + static_cast<ptrdiff_t>(i), repl.begin(), repl.end());
  // Merge zero extents that now touch, at the far boundary first so i stays valid.
  for (size_t k : {i + repl.size(), i}) {
    if (k == 0 || k >= extents_.size()) continue;
    if (extents_[k - 1].kind == Kind::Zero && extents_[k].kind == Kind::Zero) {
      extents_[k - 1].length += extents_[k].length;
      extents_.erase(extents_.begin() + static_cast<ptrdiff_t>(k));
    }
  }
}

Image Image::slice(uint64_t start, uint64_t end) const {
  Image out;
  if (start >= end) return out;
  auto it = std::upper_bound(extents_.begin(), extents_.end(), start,
                             [](uint64_t p, const ImageExtent& e) { return p < e.offset; });
  for (--it; it != extents_.end() && it->offset < end; ++it) {
    ImageExtent e = *it;
    if (e.offset < start) advance(e, start - e.offset);
    e.length = std::min(e.length, end - e.offset);
    out.push(std::move(e));
  }
  return out;
}

Result<Image> Image::repeat(const Image& unit, uint64_t count) {
  if (count == 0 || unit.size_ == 0) return Image();
  if (unit.size_ > kMaxSize / count)
    return make_error(EINVAL, std::to_string(unit.size_) + " bytes * " + std::to_string(count) +
                                  " is larger than the maximum size 2^63-1");
  const uint64_t total = unit.size_ * count;
  if (unit.all_zero()) return zeroes(total);
  if (count == 1) return unit;
  ImageExtent e;
  e.kind = Kind::Tile;
  e.length = total;
  const auto& inner = unit.extents_;
  if (inner.size() == 1 && inner[0].kind == Kind::Tile && inner[0].start == 0 &&
      inner[0].length % inner[0].unit->size() == 0) {
    e.unit = inner[0].unit;  // (X*a)*b is X*(a*b): keep tiles one level deep
    e.pattern = inner[0].pattern;
  } else {
    e.unit = std::make_shared<const Image>(unit);
  }
  const uint64_t u = e.unit->size();
  if (!e.pattern && u <= kPatternUnitMax) {
    auto pat = std::make_shared<Bytes>(static_cast<size_t>(u * ((kPatternMin + u - 1) / u)));
    for (size_t at = 0; at < pat->size(); at += u) e.unit->read(std::span(*pat).subspan(at, u), 0);
    e.pattern = std::move(pat);
  }
  Image img;
  img.push(std::move(e));
  return img;
}

void Image::read(std::span<std::byte> out, uint64_t offset) const {
  if (out.empty()) return;
  auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                             [](uint64_t p, const ImageExtent& e) { return p < e.offset; });
  --it;
  for (size_t done = 0; done < out.size(); ++it) {
    const ImageExtent& e = *it;
    uint64_t d = offset + done - e.offset;
    size_t n = static_cast<size_t>(std::min<uint64_t>(e.length - d, out.size() - done));
    auto part = out.subspan(done, n);
    switch (e.kind) {
      case Kind::Zero: std::memset(part.data(), 0, n); break;
      case Kind::Data: std::memcpy(part.data(), e.bytes->data() + e.start + d, n); break;
      case Kind::Tile: read_tile(e, d, part); break;
    }
    done += n;
  }
}

Status Image::render(Allocator& dst, uint64_t dst_offset) const {
  return render_window(dst, dst_offset, 0, size_);
}

// Writes bytes [lo, hi) of this image at dst_offset.
Status Image::render_window(Allocator& dst, uint64_t dst_offset, uint64_t lo, uint64_t hi) const {
  if (lo >= hi) return ok();
  auto it = std::upper_bound(extents_.begin(), extents_.end(), lo,
                             [](uint64_t p, const ImageExtent& e) { return p < e.offset; });
  for (--it; it != extents_.end() && it->offset < hi; ++it) {
    const ImageExtent& e = *it;
    const uint64_t a = std::max(lo, e.offset), b = std::min(hi, e.offset + e.length);
    const uint64_t at = dst_offset + (a - lo), d = a - e.offset;
    if (e.kind == Kind::Data) {
      NBD_TRY(write_nonzero(dst, std::span<const std::byte>(e.bytes->data() + e.start + d, b - a), at));
    } else if (e.kind == Kind::Tile && e.pattern) {
      std::vector<std::byte> buf(static_cast<size_t>(std::min(b - a, kRenderChunk)));
      for (uint64_t done = 0; done < b - a;) {
        auto part = std::span(buf).first(static_cast<size_t>(std::min<uint64_t>(buf.size(), b - a - done)));
        read_tile(e, d + done, part);
        NBD_TRY(write_nonzero(dst, part, at + done));
        done += part.size();
      }
    } else if (e.kind == Kind::Tile) {
      const uint64_t unit = e.unit->size();
      uint64_t q = (e.start + d % unit) % unit;
      for (uint64_t done = 0; done < b - a;) {
        uint64_t n = std::min(b - a - done, unit - q);
        NBD_TRY(e.unit->render_window(dst, at + done, q, q + n));
        done += n;
        q = 0;
      }
    }
  }
  return ok();
}

}  // namespace nbd::data
