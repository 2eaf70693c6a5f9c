// SPDX-License-Identifier: BSD-3-Clause
// The synchronous copier (streams and --synchronous): one request at a time, strictly in
// order, still skipping holes and writing zero runs as zeroes. Also the helpers both copiers
// use to cut the disk into pieces.
#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "copier.h"
#include "io_util.h"

namespace nbd::copy {

void split_runs(std::span<const std::byte> buf, uint64_t offset, uint64_t block, std::vector<Extent>& runs) {
  runs.clear();
  if (block == 0) {
    runs.push_back({offset, buf.size(), 0});
    return;
  }
  size_t pos = 0;
  while (pos < buf.size()) {
    // Next block boundary on the disk (blocks are aligned to absolute offsets).
    uint64_t abs = offset + pos;
    size_t n = static_cast<size_t>(std::min<uint64_t>(block - abs % block, buf.size() - pos));
    bool zero = n == block && is_zero(buf.subspan(pos, n));
    if (!runs.empty() && runs.back().reads_as_zero() == zero)
      runs.back().length += n;
    else
      runs.push_back({abs, n, zero ? kExtentZero : 0u});
    pos += n;
  }
}

void split_extent(const Extent& e, uint32_t request_size, uint64_t max_zero, std::vector<Extent>& out) {
  uint64_t step = e.reads_as_zero() ? max_zero : request_size;
  for (uint64_t off = e.offset, end = e.offset + e.length; off < end;) {
    // Data pieces end on request_size boundaries so later requests stay aligned.
    uint64_t n = std::min(end - off, e.reads_as_zero() ? step : step - off % step);
    out.push_back({off, n, e.flags});
    off += n;
  }
}

namespace {

struct SyncOp final : Completion {
  bool done = false;
  Status status;
  void complete(Status s) override {
    done = true;
    status = std::move(s);
  }
};

Status finish(Channel& ch, SyncOp& op) {
  while (!op.done) NBD_TRY(ch.wait_one());
  return std::move(op.status);
}

Error at(const Endpoint& ep, const char* what, uint64_t offset, const Error& e) {
  return make_error(
      e.errnum, ep.name() + ": " + what + " at offset " + std::to_string(offset) + " failed: " + e.message);
}

class SyncCopier {
 public:
  SyncCopier(Endpoint& src, Endpoint& dst, Channel& sc, Channel& dc, const CopyOptions& o, bool dst_zero,
             Progress& p)
      : src_(src),
        dst_(dst),
        sc_(sc),
        dc_(dc),
        o_(o),
        dst_zero_(dst_zero),
        progress_(p),
        buf_(new std::byte[o.request_size]) {}

  // Writes buf's runs (zero-detected) to the destination at offset.
  Status put(std::span<const std::byte> buf, uint64_t offset) {
    split_runs(buf, offset, o_.sparse, runs_);
    for (const Extent& r : runs_) {
      if (r.reads_as_zero()) {
        NBD_TRY(put_zero(r.length, r.offset));
        continue;
      }
      SyncOp op;
      dc_.write(buf.subspan(r.offset - offset, r.length), r.offset, op);
      auto st = finish(dc_, op);
      if (!st) return at(dst_, "write", r.offset, st.error());
    }
    return ok();
  }

  Status put_zero(uint64_t count, uint64_t offset) {
    if (dst_zero_ && !o_.allocated) return ok();
    SyncOp op;
    dc_.zero(count, offset, o_.allocated, op);
    auto st = finish(dc_, op);
    if (!st) return at(dst_, "zero", offset, st.error());
    return ok();
  }

  Status copy_piece(const Extent& p) {
    if (p.reads_as_zero()) {
      if (o_.blkhash) o_.blkhash->update(nullptr, p.offset, p.length);
      NBD_TRY(put_zero(p.length, p.offset));
    } else {
      std::span<std::byte> b(buf_.get(), p.length);
      SyncOp op;
      if (o_.discard_reads)
        sc_.read_discard(p.length, p.offset, b, op);
      else
        sc_.read(b, p.offset, op, nullptr);
      auto st = finish(sc_, op);
      if (!st) return at(src_, "read", p.offset, st.error());
      if (o_.blkhash) o_.blkhash->update(b.data(), p.offset, b.size());
      NBD_TRY(put(b, p.offset));
    }
    progress_.add(p.length);
    return ok();
  }

  Status copy_sized(uint64_t size) {
    const uint64_t segment = std::max<uint64_t>(uint64_t{64} << 20, o_.request_size);
    bool use_extents = src_.can_extents() && !o_.no_extents;
    for (uint64_t off = 0; off < size;) {
      uint64_t n = std::min(segment, size - off);
      extents_.clear();
      if (use_extents) {
        auto st = sc_.extents(n, off, extents_);
        if (!st) return at(src_, "block status", off, st.error());
      } else {
        extents_.push_back({off, n, 0});
      }
      pieces_.clear();
      for (Extent e : extents_) {
        uint64_t end = std::min(e.offset + e.length, off + n);
        if (e.offset >= end) continue;
        e.length = end - e.offset;
        split_extent(e, o_.request_size, uint64_t{1} << 30, pieces_);
      }
      for (const Extent& p : pieces_) NBD_TRY(copy_piece(p));
      off += n;
    }
    return ok();
  }

  Status copy_stream() {
    for (uint64_t off = 0;;) {
      std::span<std::byte> b(buf_.get(), o_.request_size);
      size_t got = 0;
      SyncOp op;
      sc_.read(b, off, op, &got);
      auto st = finish(sc_, op);
      if (!st) return at(src_, "read", off, st.error());
      if (got == 0) return ok();
      if (o_.blkhash) o_.blkhash->update(b.data(), off, got);
      NBD_TRY(put(b.first(got), off));
      progress_.add(got);
      off += got;
      if (got < b.size()) return ok();
    }
  }

 private:
  Endpoint& src_;
  Endpoint& dst_;
  Channel& sc_;
  Channel& dc_;
  const CopyOptions& o_;
  bool dst_zero_;
  Progress& progress_;
  std::unique_ptr<std::byte[]> buf_;
  std::vector<Extent> runs_, extents_, pieces_;
};

}  // namespace

Status copy_sync(Endpoint& src, Endpoint& dst, const CopyOptions& opts, bool dst_is_zero,
                 Progress& progress) {
  NBD_TRY_ASSIGN(auto sc, src.open_channel());
  NBD_TRY_ASSIGN(auto dc, dst.open_channel());
  SyncCopier c(src, dst, *sc, *dc, opts, dst_is_zero, progress);
  if (auto size = src.size(); size && !src.is_stream()) {
    NBD_TRY(c.copy_sized(*size));
  } else {
    NBD_TRY(c.copy_stream());
  }
  if (opts.flush) {
    auto st = dc->flush();
    if (!st) return make_error(st.error().errnum, dst.name() + ": flush failed: " + st.error().message);
  }
  return ok();
}

}  // namespace nbd::copy
