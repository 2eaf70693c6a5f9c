// SPDX-License-Identifier: BSD-3-Clause
// data plugin: a disk described on the command line (data= in the data language, raw= or
// base64=), evaluated once into an allocator that then serves reads and absorbs writes.
#include <cstdlib>
#include <map>
#include <optional>

#include "common/encoding.h"
#include "data_eval.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"
#include "runtime/allocator.h"

namespace nbd::plugins {
namespace {

class DataPlugin final : public Plugin {
 public:
  Status config(std::string_view key, std::string_view value) override {
    if (key == "data" || key == "raw" || key == "base64") {
      ++sources_;
      source_key_ = key;
      source_ = value;
    } else if (key == "size") {
      NBD_TRY_ASSIGN(size_, parse_size(key, value));
    } else if (key == "allocator") {
      allocator_spec_ = value;
    } else {
      vars_[std::string(key)] = value;  // any other key=value is a $VAR for the data string
    }
    return ok();
  }

  Status config_complete() override {
    if (sources_ != 1) return make_error(EINVAL, "exactly one of data=, raw= or base64= must be given");
    NBD_TRY_ASSIGN(data::Image image, build_image());
    uint64_t size = size_.value_or(image.size());
    if (size > data::Image::kMaxSize)
      return make_error(EINVAL, "size=" + std::to_string(size) + ": larger than 2^63-1");
    if (size < image.size()) image = image.slice(0, size);
    NBD_TRY_ASSIGN(alloc_, create_allocator(allocator_spec_));
    NBD_TRY(alloc_->set_size_hint(size));
    NBD_TRY(image.render(*alloc_));
    disk_size_ = size;
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams&) override {
    return std::unique_ptr<Connection>(std::make_unique<AllocatorConnection>(*alloc_, disk_size_));
  }
  std::vector<std::string> dump_plugin() override { return {"data_base64=yes"}; }

 private:
  Result<data::Image> build_image() const {
    if (source_key_ == "raw") {
      const auto* p = reinterpret_cast<const std::byte*>(source_.data());
      return data::Image::from_bytes(data::Bytes(p, p + source_.size()));
    }
    if (source_key_ == "base64") {
      NBD_TRY_ASSIGN(data::Bytes bytes, decode_base64(source_, Base64Padding::Optional));
      return data::Image::from_bytes(std::move(bytes));
    }
    auto lookup = [this](std::string_view name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it != vars_.end()) return it->second;
      if (const char* env = std::getenv(std::string(name).c_str())) return std::string(env);
      return std::nullopt;
    };
    return data::evaluate_string(source_, "data", lookup);
  }

  int sources_ = 0;
  std::string source_key_;
  std::string source_;
  std::optional<uint64_t> size_;
  std::string allocator_spec_ = "sparse";
  std::map<std::string, std::string, std::less<>> vars_;
  std::unique_ptr<Allocator> alloc_;
  uint64_t disk_size_ = 0;
};

constexpr ParamHelp kParams[] = {
    {"data", "[data=]DATA  Disk contents in the data language (see README)."},
    {"raw", "raw=BINARY  Disk contents as raw bytes."},
    {"base64", "base64=BASE64  Disk contents encoded in base64."},
    {"size", "size=SIZE  Truncate or extend the disk with zeroes to SIZE."},
    {"allocator", "allocator=sparse|malloc[,mlock=true]|zstd  Backend storage (default sparse)."},
};

}  // namespace

extern const PluginInfo data_plugin_info;
const PluginInfo data_plugin_info{
    .name = "data",
    .description = "nbdkit data plugin: a disk described on the command line",
    .magic_config_key = "data",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(std::make_unique<DataPlugin>()); },
};

}  // namespace nbd::plugins
