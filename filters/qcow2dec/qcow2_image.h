// SPDX-License-Identifier: BSD-3-Clause
// A qcow2 image read as the raw disk it holds, for the qcow2dec filter: the header and L1 table
// checked and read at open, L2 tables read on demand (a small cache), zero and unallocated
// clusters as zeros (and holes in the extents), compressed clusters inflated with zlib or zstd.
// Versions 2 and 3 without a backing file, encryption, an external data file or subclusters.
// Only a read callback: no server, no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "nbd/result.h"

namespace nbd::filters::qcow2 {

// Reads exactly buf.size() bytes at offset of the qcow2 file (offset + size <= file size).
using ReadAt = std::function<Status(std::span<std::byte> buf, uint64_t offset)>;

struct Header {
  uint32_t version = 0;
  uint32_t cluster_bits = 0;
  uint64_t size = 0;  // virtual disk size in bytes
  uint32_t l1_size = 0;
  uint64_t l1_offset = 0;
  uint8_t compression = 0;  // 0 zlib (raw deflate), 1 zstd
  bool dirty = false;       // refcounts may be stale: the data is still readable
};

// What a cluster of the virtual disk is.
struct Cluster {
  enum class Kind { Unallocated, Zero, Data, Compressed };
  Kind kind = Kind::Unallocated;
  uint64_t host_offset = 0;  // Data: cluster start in the file; Compressed: first byte
  uint64_t host_length = 0;  // Compressed: bytes to read (at most; clipped to the file)
};

class Image {
 public:
  // Reads and checks the header and L1 table: an error says what is wrong (not qcow2, a
  // feature this reader lacks, a table outside the file). EINVAL, or the reader's error.
  static Result<std::unique_ptr<Image>> open(ReadAt read_at, uint64_t file_size);

  const Header& header() const { return h_; }
  uint64_t size() const { return h_.size; }
  uint64_t cluster_size() const { return uint64_t{1} << h_.cluster_bits; }

  // The cluster holding virtual offset `offset` (< size()). EIO for an L2 table or an entry
  // that points outside the file. Thread-safe.
  Result<Cluster> lookup(uint64_t offset);
  // Reads buf.size() bytes of the virtual disk at offset. Thread-safe.
  Status read(std::span<std::byte> buf, uint64_t offset);

 private:
  Image(ReadAt r, uint64_t file_size) : read_at_(std::move(r)), file_size_(file_size) {}
  Result<std::shared_ptr<const std::vector<uint64_t>>> l2_table(uint64_t host_offset);
  Status read_cluster(const Cluster& c, uint64_t in, std::span<std::byte> out);
  Status inflate(std::span<const std::byte> in, std::span<std::byte> out) const;

  ReadAt read_at_;
  uint64_t file_size_;
  Header h_;
  std::vector<uint64_t> l1_;
  std::mutex mu_;  // the L2 cache
  std::list<uint64_t> lru_;
  std::unordered_map<uint64_t,
                     std::pair<std::shared_ptr<const std::vector<uint64_t>>, std::list<uint64_t>::iterator>>
      l2_cache_;
};

}  // namespace nbd::filters::qcow2
