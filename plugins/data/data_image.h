// SPDX-License-Identifier: BSD-3-Clause
// Image: the value of a data-language expression, a compact description of a byte string.
// It is a list of contiguous extents (zeroes, literal bytes, or a window onto an endless
// repetition of another Image), so "@1T 1" or "(0)*1T" cost a few bytes, repeats are never
// expanded, and only render() into an allocator writes the non-zero bytes out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "nbd/result.h"
#include "runtime/allocator.h"

namespace nbd::data {

class Image;
using Bytes = std::vector<std::byte>;

struct ImageExtent {
  enum class Kind { Zero, Data, Tile };
  Kind kind = Kind::Zero;
  uint64_t offset = 0;  // in the image
  uint64_t length = 0;
  std::shared_ptr<const Bytes> bytes;    // Data: the buffer; this extent is bytes[start, +length)
  uint64_t start = 0;                    // Data: first byte used; Tile: phase within the unit
  std::shared_ptr<const Image> unit;     // Tile: the repeated image (size > 0, not all zero)
  std::shared_ptr<const Bytes> pattern;  // Tile with a small unit: the unit repeated to >= 4 KiB
};

class Image {
 public:
  // Largest image size: upstream's limit on a disk's virtual size (2^63 - 1).
  static constexpr uint64_t kMaxSize = (uint64_t{1} << 63) - 1;

  Image() = default;
  static Image zeroes(uint64_t length);
  static Image from_bytes(Bytes bytes);  // all-zero content becomes a zero extent

  uint64_t size() const { return size_; }
  const std::vector<ImageExtent>& extents() const { return extents_; }
  bool all_zero() const;

  // Grows the image with zeroes to at least new_size.
  void extend(uint64_t new_size);
  // Overwrites [offset, offset + src.size()) with src (zeroes included), growing if needed.
  // The caller checks offset + src.size() <= kMaxSize.
  void paint(uint64_t offset, const Image& src);
  // Bytes [start, end) of this image; the caller checks start <= end <= size().
  Image slice(uint64_t start, uint64_t end) const;
  // unit repeated count times; EINVAL if the result would exceed kMaxSize.
  static Result<Image> repeat(const Image& unit, uint64_t count);

  // Copies bytes [offset, offset + out.size()) (which must lie within the image) into out.
  void read(std::span<std::byte> out, uint64_t offset) const;
  // Writes the image's non-zero content at dst_offset into an allocator (which reads as zero
  // where nothing was written). Memory use is bounded by the allocator's pages of real data.
  Status render(Allocator& dst, uint64_t dst_offset = 0) const;

 private:
  // Makes sure an extent starts at pos (0 < pos < size) and returns its index.
  size_t split_at(uint64_t pos);
  void push(ImageExtent e);  // appends at the end, merging adjacent zero extents
  Status render_window(Allocator& dst, uint64_t dst_offset, uint64_t lo, uint64_t hi) const;

  uint64_t size_ = 0;
  std::vector<ImageExtent> extents_;
};

}  // namespace nbd::data
