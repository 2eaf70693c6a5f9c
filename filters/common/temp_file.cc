// SPDX-License-Identifier: BSD-3-Clause
#include "temp_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/temp_dir.h"

namespace nbd::filters {

Result<Fd> unlinked_temp_file(std::string_view who, std::string_view dir) {
  std::string path =
      (dir.empty() ? temp_base("/var/tmp") : std::string(dir)) + "/nbdkit-" + std::string(who) + "-XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return errno_error(std::string(who) + ": temporary file " + path);
  ::unlink(path.c_str());
  return Fd(fd);
}

}  // namespace nbd::filters
