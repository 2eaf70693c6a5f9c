// SPDX-License-Identifier: BSD-3-Clause
// fua filter: changes how Forced Unit Access is advertised and handled (fuamode=), like
// upstream's nbdkit-fua-filter; to trade safety for speed, or to test FUA fallbacks.
#include <array>
#include <string>

#include "nbd/filter.h"

namespace nbd::filters {
namespace {

enum class Mode { None, Emulate, Native, Force, Pass, Discard };
constexpr std::array<std::string_view, 6> kModes = {"none", "emulate", "native", "force", "pass", "discard"};

// none hides FUA (clients flush instead); emulate answers FuaMode::Emulate, so the core's
// boundary above turns a FUA write into the write and a flush; native passes FUA down, where
// the boundary below emulates it if the plugin must; force adds FUA to every write and makes
// flush a no-op; discard drops FUA and flush (unsafe); pass changes nothing.
class FuaConnection final : public FilterConnection {
 public:
  FuaConnection(std::unique_ptr<Connection> next, Mode m) : FilterConnection(std::move(next)), mode_(m) {}

  Result<FuaMode> can_fua() override {
    switch (mode_) {
      case Mode::None: return FuaMode::None;
      case Mode::Emulate: return FuaMode::Emulate;
      case Mode::Pass: return next().can_fua();
      case Mode::Native:
      case Mode::Force:
      case Mode::Discard: return FuaMode::Native;
    }
    return FuaMode::None;
  }
  Result<bool> can_flush() override {
    if (mode_ == Mode::Force || mode_ == Mode::Discard) return true;  // flush is a no-op here
    return next().can_flush();
  }

  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return next().pwrite(buf, offset, adjust(flags));
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().trim(count, offset, adjust(flags));
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return next().zero(count, offset, adjust(flags));
  }
  Status flush(uint32_t flags) override {
    if (mode_ == Mode::Force || mode_ == Mode::Discard) return ok();
    return next().flush(flags);
  }

 private:
  uint32_t adjust(uint32_t flags) const {
    if (mode_ == Mode::Force) return flags | kFua;
    if (mode_ == Mode::Discard) return flags & ~kFua;
    return flags;
  }
  Mode mode_;
};

class FuaFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key != "fuamode") return false;
    for (size_t i = 0; i < kModes.size(); ++i)
      if (kModes[i] == value) {
        mode_ = Mode(i);
        return true;
      }
    return make_error(EINVAL, "fua: fuamode=" + std::string(value) +
                                  ": unknown mode (use none, emulate, native, force, pass, discard)");
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    // As upstream's prepare: a mode that needs the plugin's flush or FUA refuses the
    // connection when the layer below has none, unless the connection is read-only (-r).
    const bool writable = !params.readonly;
    if (writable && mode_ == Mode::Emulate) {
      NBD_TRY_ASSIGN(bool flush, below->can_flush());
      if (!flush) return make_error(EINVAL, "fua: fuamode=emulate requires the plugin to support flush");
    }
    if (writable && (mode_ == Mode::Native || mode_ == Mode::Force)) {
      NBD_TRY_ASSIGN(FuaMode f, below->can_fua());
      if (f == FuaMode::None)
        return make_error(EINVAL, "fua: fuamode=" + std::string(kModes[size_t(mode_)]) +
                                      " requires the plugin to support FUA");
    }
    return std::unique_ptr<Connection>(std::make_unique<FuaConnection>(std::move(below), mode_));
  }

 private:
  Mode mode_ = Mode::None;
};

constexpr ParamHelp kParams[] = {
    {"fuamode", "fuamode=<MODE>  One of 'none' (default), 'emulate', 'native', 'force', 'pass', 'discard'."},
};

}  // namespace

extern const FilterInfo fua_filter_info;
const FilterInfo fua_filter_info{
    .name = "fua",
    .description = "nbdkit fua filter: modify handling of the FUA flag",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<FuaFilter>()); },
};

}  // namespace nbd::filters
