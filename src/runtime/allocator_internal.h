// SPDX-License-Identifier: BSD-3-Clause
// Pieces shared between the allocator implementations (allocator*.cc); not a public API.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/allocator.h"

namespace nbd {

// Copies count bytes from src to dst (which may be the same allocator, ranges may overlap),
// turning the source's holes into dst.zero() so that sparse stays sparse.
Status blit_between(Allocator& src, Allocator& dst, uint64_t count, uint64_t src_offset, uint64_t offset);

// "malloc": one flat, zero-filled buffer that grows to the size hint or the highest write.
// With mlock the buffer is locked into RAM (mlock(2)).
Result<std::unique_ptr<Allocator>> create_malloc_allocator(bool mlock);

// "zstd": a sparse array of 32 KiB pages, each stored compressed with zstd.
Result<std::unique_ptr<Allocator>> create_zstd_allocator();

}  // namespace nbd
