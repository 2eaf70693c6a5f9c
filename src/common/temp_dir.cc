// SPDX-License-Identifier: BSD-3-Clause
// TempDir (see temp_dir.h).
#include "common/temp_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

namespace nbd {

std::string temp_base(std::string_view fallback) {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? std::string(t) : std::string(fallback);
}

Result<TempDir> TempDir::create(std::string_view prefix, std::string_view base) {
  std::string tmpl = (base.empty() ? temp_base() : std::string(base)) + "/" + std::string(prefix) + "XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    return make_error(errno, tmpl + ": cannot create temporary directory: " + std::strerror(errno));
  TempDir d;
  d.path_ = std::move(tmpl);
  d.owner_ = ::getpid();
  return d;
}

TempDir::TempDir(TempDir&& o) noexcept { *this = std::move(o); }

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::exchange(o.path_, {});
    owner_ = std::exchange(o.owner_, -1);
  }
  return *this;
}

void TempDir::remove() {
  if (path_.empty()) return;
  if (::getpid() == owner_) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  path_.clear();
}

void TempDir::adopt() {
  if (!path_.empty()) owner_ = ::getpid();
}

std::string TempDir::release() {
  owner_ = -1;
  return std::exchange(path_, {});
}

}  // namespace nbd
