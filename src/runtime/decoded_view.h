// SPDX-License-Identifier: BSD-3-Clause
// Base for filter connections that serve what they decode from the layer below (xz, gzip,
// bzip2, qcow2dec): nothing is written, the contents never change (so every connection sees
// the same bytes: multi-conn), a cache request is a read, and the layer below's block sizes say
// nothing about the decoded view. Extents and flush stay each filter's own answer.
#pragma once

#include "nbd/filter.h"

namespace nbd {

class DecodedViewConnection : public FilterConnection {
 public:
  using FilterConnection::FilterConnection;
  Result<BlockSize> block_size() override { return BlockSize{}; }
  Result<bool> can_write() override { return false; }
  Result<bool> can_trim() override { return false; }
  Result<ZeroMode> can_zero() override { return ZeroMode::None; }
  Result<bool> can_fast_zero() override { return false; }
  Result<FuaMode> can_fua() override { return FuaMode::None; }
  Result<bool> can_multi_conn() override { return true; }
  Result<CacheMode> can_cache() override { return CacheMode::Emulate; }
};

}  // namespace nbd
