// SPDX-License-Identifier: BSD-3-Clause
// Shared by the protocol_*.cc files only: the error every decoder returns for a short buffer.
#pragma once

#include <cerrno>
#include <string>

#include "nbd/result.h"

namespace nbd::protocol {

inline Error short_buffer(const char* what) { return make_error(EINVAL, std::string("truncated ") + what); }

}  // namespace nbd::protocol
