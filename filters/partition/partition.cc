// SPDX-License-Identifier: BSD-3-Clause
// partition filter: serves one partition of an MBR or GPT disk, like upstream's
// nbdkit-partition-filter. The table is read at every open (partition_table.h); the
// connection is then a window on the layer below.
#include <cerrno>
#include <optional>

#include "disk/window_connection.h"
#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"
#include "partition_table.h"

namespace nbd::filters {
namespace {

class PartitionFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "partition") {
      NBD_TRY_ASSIGN(number_, parse_uint32(key, value));
      if (*number_ == 0)
        return make_error(EINVAL,
                          "partition=0: partition numbers count from 1 (MBR logical partitions from 5)");
      return true;
    }
    if (key == "partition-sectorsize") {
      NBD_TRY_ASSIGN(uint64_t ss, parse_size(key, value));
      if (ss != 512 && ss != 4096)
        return make_error(
            EINVAL, "partition-sectorsize=" + std::string(value) + ": the sector size must be 512 or 4096");
      sector_size_ = static_cast<uint32_t>(ss);
      return true;
    }
    return false;
  }
  Status config_complete() override {
    if (!number_)
      return make_error(EINVAL, "the partition=N parameter is required (partitions count from 1)");
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    NBD_TRY_ASSIGN(uint64_t size, below->get_size());
    uint32_t ss = sector_size_.value_or(0);
    if (ss == 0) {  // as upstream: the minimum block size below, when it is 512 or 4096
      NBD_TRY_ASSIGN(BlockSize bs, below->block_size());
      ss = bs.minimum == 4096 ? 4096 : 512;
    }
    Connection& disk = *below;
    auto read = [&disk](std::span<std::byte> buf, uint64_t offset) { return disk.pread(buf, offset, 0); };
    auto found = partition::find_partition(read, size, ss, *number_);
    if (!found) return make_error(found.error().errnum, "partition: " + found.error().message);
    const partition::Window& w = *found;
    log::debug("partition %u: %s, offset %llu, length %llu (sector size %u)", *number_, w.table.c_str(),
               static_cast<unsigned long long>(w.offset), static_cast<unsigned long long>(w.length), ss);
    return std::unique_ptr<Connection>(
        std::make_unique<vdisk::WindowConnection>(std::move(below), w.offset, w.length));
  }

 private:
  std::optional<uint32_t> number_;
  std::optional<uint32_t> sector_size_;
};

constexpr ParamHelp kParams[] = {
    {"partition", "partition=<PART>  (required) The partition number to serve, counting from 1."},
    {"partition-sectorsize",
     "partition-sectorsize=512|4096  Sector size of the table (default: from the plugin's minimum block "
     "size, else 512)."},
};

}  // namespace

extern const FilterInfo partition_filter_info;
const FilterInfo partition_filter_info{
    .name = "partition",
    .description = "nbdkit partition filter: serve one partition of an MBR or GPT disk",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<PartitionFilter>()); },
};

}  // namespace nbd::filters
