// SPDX-License-Identifier: BSD-3-Clause
// nofilter filter: a layer that passes every call through unchanged, like upstream's
// nbdkit-nofilter-filter; it exists to exercise the filter stack itself in tests.
#include "nbd/filter.h"

namespace nbd::filters {
namespace {

// A real layer (not the "no layer" default of Filter::open), so the core builds and checks a
// boundary for it as for any filter. FilterConnection already forwards every method; the one
// virtual call per request is all it costs.
class NofilterConnection final : public FilterConnection {
 public:
  using FilterConnection::FilterConnection;
};

// Every Filter method keeps its forwarding default: config passes all keys on to the
// plugin, list_exports and default_export ask the layer below.
class Nofilter final : public Filter {
 public:
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override {
    NBD_TRY_ASSIGN(auto below, next(params));
    return std::unique_ptr<Connection>(std::make_unique<NofilterConnection>(std::move(below)));
  }
};

}  // namespace

extern const FilterInfo nofilter_filter_info;
const FilterInfo nofilter_filter_info{
    .name = "nofilter",
    .description = "nbdkit passthrough filter",
    .params = {},
    .factory = [] { return std::unique_ptr<Filter>(std::make_unique<Nofilter>()); },
};

}  // namespace nbd::filters
