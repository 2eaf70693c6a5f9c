// SPDX-License-Identifier: BSD-3-Clause
// An .xz file read at random, for the xz filter: the index of every stream (read backwards from
// the end: stream padding, footer, index, header) flattened into one table of blocks, and the
// decoding of a single block on its own. Only liblzma and a read callback: no server, no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "nbd/result.h"

namespace nbd::filters::xz {

// Reads exactly buf.size() bytes at offset of the compressed file. Called from several threads
// at once by decode_block when the caller does.
using ReadAt = std::function<Status(std::span<std::byte> buf, uint64_t offset)>;

struct BlockInfo {
  uint64_t uoffset = 0;        // where the block's data starts in the uncompressed image
  uint64_t usize = 0;          // uncompressed bytes
  uint64_t coffset = 0;        // file offset of the block header
  uint64_t total_size = 0;     // header, compressed data, padding and check, as in the file
  uint64_t unpadded_size = 0;  // as the index records it (total_size without the padding)
  uint32_t check = 0;          // lzma_check of the block's stream
};

// The blocks of every stream of a file, in file order. Immutable once read: safe to share
// between threads.
class XzIndex {
 public:
  // Reads and checks the whole index: an error names what is wrong and where (not an xz file,
  // truncated, a bad footer, header or index, streams that do not fit together). EINVAL for a
  // file that is not a valid .xz, or the reader's error.
  static Result<XzIndex> read(const ReadAt& read_at, uint64_t file_size);

  uint64_t size() const { return size_; }  // uncompressed bytes in all streams
  uint64_t streams() const { return streams_; }
  const std::vector<BlockInfo>& blocks() const { return blocks_; }
  uint64_t largest_block() const { return largest_; }
  // The block holding uncompressed offset; requires offset < size().
  size_t find(uint64_t offset) const;

 private:
  std::vector<BlockInfo> blocks_;  // only the non-empty ones
  uint64_t size_ = 0, streams_ = 0, largest_ = 0;
};

// The most memory a block's filter chain may ask for to be decoded: the largest dictionary
// liblzma's encoder makes is 1.5 GiB, so anything above this is a corrupt header.
inline constexpr uint64_t kMaxDecoderMemory = uint64_t{1600} << 20;

// Decodes block b into out (exactly b.usize bytes), checking the header, the sizes recorded in
// the index, the padding and the block's check (CRC32, CRC64, SHA-256). EIO with a message
// naming the block's offset when any of it is wrong. Thread-safe: each thread keeps its own
// decoder, reused from block to block.
Status decode_block(const ReadAt& read_at, const BlockInfo& b, std::span<std::byte> out);

}  // namespace nbd::filters::xz
