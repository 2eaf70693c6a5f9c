// SPDX-License-Identifier: BSD-3-Clause
// error filter: injects errors into replies at a chosen rate, per operation, optionally only
// while a trigger file exists, like upstream's nbdkit-error-filter. For testing NBD clients.
#include <unistd.h>

#include <array>
#include <mutex>
#include <random>
#include <string>

#include "nbd/filter.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

enum Op { kPread, kPwrite, kTrim, kZero, kExtents, kCache, kOps };
constexpr std::array<std::string_view, kOps> kOpNames = {"pread", "pwrite",  "trim",
                                                         "zero",  "extents", "cache"};

struct ErrorName {
  std::string_view name;
  int errnum;
};
// The errors the NBD protocol can carry.
constexpr ErrorName kErrors[] = {{"EPERM", EPERM},   {"EIO", EIO},       {"ENOMEM", ENOMEM},
                                 {"EINVAL", EINVAL}, {"ENOSPC", ENOSPC}, {"ESHUTDOWN", ESHUTDOWN}};

struct Setting {
  int errnum = EIO;
  std::string_view errname = "EIO";
  double rate = 0;
  std::string file;  // errors only while this file exists; empty = always
};

// Process-wide: one setting per operation and one random source shared by all connections.
class Injector {
 public:
  std::array<Setting, kOps> settings;

  Status maybe_fail(Op op) {
    const Setting& s = settings[op];
    if (s.rate <= 0) return ok();
    if (!s.file.empty() && access(s.file.c_str(), F_OK) != 0) return ok();
    if (s.rate < 1) {
      std::lock_guard l(mu_);
      if (std::uniform_real_distribution<double>(0, 1)(rng_) >= s.rate) return ok();
    }
    return make_error(s.errnum,
                      "injecting " + std::string(s.errname) + " error into " + std::string(kOpNames[op]));
  }

 private:
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

class ErrorConnection final : public FilterConnection {
 public:
  ErrorConnection(std::unique_ptr<Connection> next, Injector& inj)
      : FilterConnection(std::move(next)), inj_(inj) {}

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(inj_.maybe_fail(kPread));
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(inj_.maybe_fail(kPwrite));
    return next().pwrite(buf, offset, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(inj_.maybe_fail(kTrim));
    return next().trim(count, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(inj_.maybe_fail(kZero));
    return next().zero(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY(inj_.maybe_fail(kExtents));
    return next().extents(count, offset, flags, out);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(inj_.maybe_fail(kCache));
    return next().cache(count, offset, flags);
  }

 private:
  Injector& inj_;
};

class ErrorFilter final : public Filter {
 public:
  // error[-OP], error[-OP]-rate, error[-OP]-file: without OP the setting applies to every op.
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (!key.starts_with("error")) return false;
    std::string_view rest = key.substr(5);
    int first = 0, last = kOps;
    for (int op = 0; op < kOps; ++op) {
      std::string prefix = "-" + std::string(kOpNames[op]);
      if (rest.starts_with(prefix)) {
        rest.remove_prefix(prefix.size());
        first = op;
        last = op + 1;
        break;
      }
    }
    if (rest != "" && rest != "-rate" && rest != "-file") return false;
    for (int op = first; op < last; ++op) NBD_TRY(set(inj_.settings[op], rest, key, value));
    return true;
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<ErrorConnection>(std::move(below), inj_));
  }

 private:
  static Status set(Setting& s, std::string_view what, std::string_view key, std::string_view value) {
    if (what == "-rate") {
      NBD_TRY_ASSIGN(s.rate, parse_probability(key, value));
    } else if (what == "-file") {
      s.file = std::string(value);
    } else {
      for (const auto& e : kErrors) {
        if (e.name == value) {
          s.errnum = e.errnum;
          s.errname = e.name;
          return ok();
        }
      }
      return make_error(EINVAL,
                        std::string(key) + "=" + std::string(value) +
                            ": unknown error name (use EPERM, EIO, ENOMEM, EINVAL, ENOSPC or ESHUTDOWN)");
    }
    return ok();
  }
  Injector inj_;
};

constexpr ParamHelp kParams[] = {
    {"error", "error=EPERM|EIO|ENOMEM|EINVAL|ENOSPC|ESHUTDOWN  The error indication to return."},
    {"error-rate", "error-rate=0%..100%  Rate of errors to generate (also 0..1 or N:M)."},
    {"error-file", "error-file=TRIGGER  Set to a filename to activate the filter."},
    {"error-pread",
     "error-pread*, -pwrite*, -trim*, -zero*, -extents*, -cache*  Settings for one operation."},
};

}  // namespace

extern const FilterInfo error_filter_info;
const FilterInfo error_filter_info{
    .name = "error",
    .description = "nbdkit error filter: inject errors for testing clients",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<ErrorFilter>()); },
};

}  // namespace nbd::filters
