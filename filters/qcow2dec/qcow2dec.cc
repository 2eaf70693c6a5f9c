// SPDX-License-Identifier: BSD-3-Clause
// qcow2dec filter: the plugin holds a qcow2 image; clients see the raw disk inside it,
// read-only, like upstream's nbdkit-qcow2dec-filter (1.36). Extents come from the L2 tables:
// unallocated and zero clusters are holes that read as zeros.
#include "nbd/filter.h"
#include "nbd/log.h"
#include "qcow2_image.h"
#include "runtime/decoded_view.h"

namespace nbd::filters {
namespace {

using qcow2::Cluster;
using qcow2::Image;

class Qcow2Connection final : public DecodedViewConnection {
 public:
  Qcow2Connection(std::unique_ptr<Connection> next, std::unique_ptr<Image> img)
      : DecodedViewConnection(std::move(next)), img_(std::move(img)) {}

  Result<uint64_t> get_size() override { return img_->size(); }
  Result<bool> can_extents() override { return true; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t) override {
    if (Status s = img_->read(buf, offset); !s) return make_error(EIO, "qcow2dec: " + s.error().message);
    return ok();
  }

  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    const uint64_t cs = img_->cluster_size(), end = offset + count;
    uint64_t at = offset & ~(cs - 1);
    while (at < end) {
      NBD_TRY_ASSIGN(Cluster c, img_->lookup(at));
      const bool hole = c.kind == Cluster::Kind::Unallocated || c.kind == Cluster::Kind::Zero;
      const uint64_t len = std::min(cs, img_->size() - at);
      NBD_TRY(out.add(at, len, hole ? kExtentHole | kExtentZero : 0));
      at += len;
      if (flags & kReqOne) break;
    }
    return ok();
  }

 private:
  std::unique_ptr<Image> img_;
};

class Qcow2Filter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    OpenParams below_params = params;
    below_params.readonly = true;  // the image is never written
    NBD_TRY_ASSIGN(auto below, next(below_params));
    NBD_TRY_ASSIGN(uint64_t file_size, below->get_size());
    Connection* raw = below.get();
    auto img = Image::open([raw](std::span<std::byte> buf, uint64_t off) { return raw->pread(buf, off, 0); },
                           file_size);
    if (!img) return make_error(img.error().errnum, "qcow2dec: " + img.error().message);
    const auto& h = (*img)->header();
    log::debug("qcow2dec: version %u, %llu bytes, %llu-byte clusters, %s%s", h.version,
               static_cast<unsigned long long>(h.size),
               static_cast<unsigned long long>((*img)->cluster_size()), h.compression ? "zstd" : "zlib",
               h.dirty ? ", dirty" : "");
    return std::unique_ptr<Connection>(std::make_unique<Qcow2Connection>(std::move(below), std::move(*img)));
  }
};

}  // namespace

extern const FilterInfo qcow2dec_filter_info;
const FilterInfo qcow2dec_filter_info{
    .name = "qcow2dec",
    .description = "nbdkit qcow2dec filter: serve the raw disk inside a qcow2 image",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<Qcow2Filter>()); },
};

}  // namespace nbd::filters
