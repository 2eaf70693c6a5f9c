// SPDX-License-Identifier: BSD-3-Clause
// blocksize-policy filter: advertises block size constraints for plugins that have none (or
// other ones), and with blocksize-error-policy=error refuses requests that break them with
// EINVAL before the plugin sees them, like upstream's nbdkit-blocksize-policy-filter.
#include <cerrno>
#include <cinttypes>
#include <string>

#include "nbd/filter.h"
#include "nbd/log.h"
#include "nbd/parse.h"

namespace nbd::filters {
namespace {

struct Policy {
  BlockSize configured;  // 0: not set
  bool error = false;    // blocksize-error-policy=error
};

bool is_power_of_2(uint32_t v) { return v && !(v & (v - 1)); }

// The constraints to advertise: all three configured ones as they are; else the plugin's, with
// the configured ones put over them; a plugin with none gets 1 / 4096 / 0xffffffff for what
// was not configured. Checked for consistency, since part of it comes from the plugin.
Result<BlockSize> effective(const BlockSize& cfg, Connection& next) {
  if (cfg.minimum && cfg.preferred && cfg.maximum) return cfg;
  NBD_TRY_ASSIGN(BlockSize bs, next.block_size());
  if (!cfg.minimum && !cfg.preferred && !cfg.maximum) return bs;
  if (bs.minimum == 0) bs = {1, 4096, UINT32_MAX};
  if (cfg.minimum) bs.minimum = cfg.minimum;
  if (cfg.preferred) bs.preferred = cfg.preferred;
  if (cfg.maximum) bs.maximum = cfg.maximum;
  if (bs.minimum > bs.preferred || bs.preferred > bs.maximum)
    return make_error(EINVAL, "blocksize-policy: computed block size values are invalid: minimum " +
                                  std::to_string(bs.minimum) + ", preferred " + std::to_string(bs.preferred) +
                                  ", maximum " + std::to_string(bs.maximum) +
                                  " (need minimum <= preferred <= maximum)");
  return bs;
}

class PolicyConnection final : public FilterConnection {
 public:
  PolicyConnection(std::unique_ptr<Connection> next, const Policy& p)
      : FilterConnection(std::move(next)), p_(p) {}

  // Worked out once, after the layer below is ready; a failure fails the client's open.
  Status prepare(bool) override {
    NBD_TRY_ASSIGN(bs_, effective(p_.configured, next()));
    return ok();
  }
  Result<BlockSize> block_size() override { return bs_; }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check("pread", true, buf.size(), offset));
    return next().pread(buf, offset, flags);
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check("pwrite", true, buf.size(), offset));
    return next().pwrite(buf, offset, flags);
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check("zero", false, count, offset));
    return next().zero(count, offset, flags);
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check("trim", false, count, offset));
    return next().trim(count, offset, flags);
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    NBD_TRY(check("cache", false, count, offset));
    return next().cache(count, offset, flags);
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    NBD_TRY(check("extents", false, count, offset));
    return next().extents(count, offset, flags, out);
  }

 private:
  // The NBD spec says EINVAL for a request that breaks the constraints. The maximum binds only
  // requests that carry data (pread, pwrite), as upstream.
  Status check(const char* what, bool data, uint64_t count, uint64_t offset) const {
    if (!p_.error || bs_.minimum == 0) return ok();
    std::string why;
    if (count < bs_.minimum)
      why = "count " + std::to_string(count) + " is smaller than minimum size " + std::to_string(bs_.minimum);
    else if (data && count > bs_.maximum)
      why = "count " + std::to_string(count) + " is larger than maximum size " + std::to_string(bs_.maximum);
    else if (count % bs_.minimum)
      why = "count " + std::to_string(count) + " is not a multiple of minimum size " +
            std::to_string(bs_.minimum);
    else if (offset % bs_.minimum)
      why = "offset " + std::to_string(offset) + " is not aligned to a multiple of minimum size " +
            std::to_string(bs_.minimum);
    else
      return ok();
    std::string msg = std::string("client ") + what + " request rejected: " + why;
    log::error("%s", msg.c_str());
    return make_error(EINVAL, msg);
  }

  const Policy& p_;
  BlockSize bs_;
};

class PolicyFilter final : public Filter {
 public:
  Result<bool> config(std::string_view key, std::string_view value) override {
    if (key == "blocksize-error-policy") {
      if (value == "allow")
        p_.error = false;
      else if (value == "error")
        p_.error = true;
      else
        return make_error(EINVAL, "blocksize-error-policy=" + std::string(value) +
                                      ": unknown blocksize-error-policy (use allow or error)");
      return true;
    }
    uint32_t* target = key == "blocksize-minimum"     ? &p_.configured.minimum
                       : key == "blocksize-preferred" ? &p_.configured.preferred
                       : key == "blocksize-maximum"   ? &p_.configured.maximum
                                                      : nullptr;
    if (!target) return false;
    NBD_TRY_ASSIGN(uint64_t v, parse_size(key, value));
    if (v > UINT32_MAX)
      return make_error(EINVAL,
                        std::string(key) + "=" + std::string(value) + ": too large (at most 4294967295)");
    *target = uint32_t(v);
    return true;
  }

  Status config_complete() override {
    const BlockSize& c = p_.configured;
    auto bad = [](std::string m) { return make_error(EINVAL, std::move(m)); };
    if (c.minimum && !is_power_of_2(c.minimum))
      return bad("blocksize-minimum=" + std::to_string(c.minimum) +
                 ": blocksize-minimum must be a power of 2");
    if (c.minimum > 65536)
      return bad("blocksize-minimum=" + std::to_string(c.minimum) + ": blocksize-minimum must be <= 64K");
    if (c.preferred && !is_power_of_2(c.preferred))
      return bad("blocksize-preferred=" + std::to_string(c.preferred) +
                 ": blocksize-preferred must be a power of 2");
    if (c.preferred && (c.preferred < 512 || c.preferred > 32 * 1024 * 1024))
      return bad("blocksize-preferred=" + std::to_string(c.preferred) +
                 ": blocksize-preferred must be between 512 and 32M");
    if (c.minimum && c.maximum && c.maximum != UINT32_MAX && c.maximum % c.minimum)
      return bad("blocksize-maximum=" + std::to_string(c.maximum) +
                 ": blocksize-maximum must be 4294967295 or a multiple of blocksize-minimum");
    if (c.minimum && c.preferred && c.minimum > c.preferred)
      return bad("blocksize-minimum must be <= blocksize-preferred");
    if (c.preferred && c.maximum && c.preferred > c.maximum)
      return bad("blocksize-preferred must be <= blocksize-maximum");
    return ok();
  }

  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<PolicyConnection>(std::move(below), p_));
  }

 private:
  Policy p_;
};

constexpr ParamHelp kParams[] = {
    {"blocksize-error-policy",
     "blocksize-error-policy=allow|error  Refuse requests that break the constraints."},
    {"blocksize-minimum", "blocksize-minimum=SIZE  Minimum block size to advertise."},
    {"blocksize-preferred", "blocksize-preferred=SIZE  Preferred block size to advertise."},
    {"blocksize-maximum", "blocksize-maximum=SIZE  Maximum block size to advertise."},
};

}  // namespace

extern const FilterInfo blocksize_policy_filter_info;
const FilterInfo blocksize_policy_filter_info{
    .name = "blocksize-policy",
    .description = "nbdkit blocksize policy filter: set block size constraints and error policy",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<PolicyFilter>()); },
};

}  // namespace nbd::filters
