// SPDX-License-Identifier: BSD-3-Clause
// Tar header scanning (see tar_scan.h). Header layout (POSIX.1-1988 ustar and GNU): name at 0
// (100), size at 124 (12), checksum at 148 (8), type at 156, magic at 257, ustar prefix at
// 345 (155). Pax extended records are "LEN KEY=VALUE\n" with LEN counting the whole record.
#include "tar_scan.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace nbd::tar {
namespace {

constexpr uint64_t kBlock = 512;
constexpr uint64_t kMaxMetadata = 1 << 20;  // a long name or pax header larger than this is corrupt

Error bad(std::string message) { return make_error(EINVAL, std::move(message)); }

std::string at(uint64_t offset) { return "tar header at offset " + std::to_string(offset); }

// Octal (space or NUL terminated, leading spaces allowed) or GNU base-256 (high bit of the
// first byte set). nullopt for anything else, a negative number or one above 2^63.
std::optional<uint64_t> parse_number(const std::byte* p, size_t n) {
  auto c = [p](size_t i) { return static_cast<unsigned char>(p[i]); };
  uint64_t v = 0;
  if (c(0) & 0x80) {
    if (c(0) & 0x40) return std::nullopt;
    v = c(0) & 0x3f;
    for (size_t i = 1; i < n; i++) {
      if (v >> 55) return std::nullopt;
      v = v << 8 | c(i);
    }
    return v;
  }
  size_t i = 0;
  while (i < n && c(i) == ' ') i++;
  for (; i < n && c(i) >= '0' && c(i) <= '7'; i++) {
    if (v >> 60) return std::nullopt;
    v = v << 3 | (c(i) - '0');
  }
  for (; i < n; i++)
    if (c(i) != ' ' && c(i) != 0) return std::nullopt;
  return v;
}

// The stored checksum against the sum of the header's bytes with the checksum field read as
// spaces; old tars summed signed chars, so either sum is accepted (as GNU tar does).
Status check_checksum(const std::byte* h, uint64_t offset) {
  auto stored = (static_cast<unsigned char>(h[148]) & 0x80) ? std::nullopt : parse_number(h + 148, 8);
  if (!stored)
    return bad(at(offset) +
               ": corrupt checksum field (not an octal number): not a tar file, or a corrupt one");
  uint64_t usum = 0;
  int64_t ssum = 0;
  for (size_t i = 0; i < kBlock; i++) {
    auto b = static_cast<unsigned char>(i >= 148 && i < 156 ? ' ' : static_cast<unsigned char>(h[i]));
    usum += b;
    ssum += static_cast<signed char>(b);
  }
  if (*stored != usum && static_cast<int64_t>(*stored) != ssum)
    return bad(at(offset) + ": checksum mismatch (stored " + std::to_string(*stored) + ", computed " +
               std::to_string(usum) + "): not a tar file, or a corrupt one");
  return ok();
}

std::string field(const std::byte* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len] != std::byte{0}) len++;
  return std::string(reinterpret_cast<const char*>(p), len);
}

// Keywords of one pax header that matter here. An empty value unsets the keyword.
struct Pax {
  std::optional<std::string> path;
  std::optional<uint64_t> size;
  std::optional<std::string> sparse_name;
  bool sparse = false;
};

Status parse_pax(std::string_view data, uint64_t offset, Pax& out) {
  auto corrupt = [&](const std::string& why) {
    return bad("corrupt pax header at offset " + std::to_string(offset) + ": " + why);
  };
  for (size_t i = 0; i < data.size() && data[i] != '\0';) {
    size_t digits = 0;
    uint64_t len = 0;
    while (i + digits < data.size() && data[i + digits] >= '0' && data[i + digits] <= '9' && digits < 19)
      len = len * 10 + (data[i + digits++] - '0');
    if (digits == 0 || i + digits >= data.size() || data[i + digits] != ' ')
      return corrupt("a record does not start with its length");
    if (len < digits + 4 || len > data.size() - i)
      return corrupt("record length " + std::to_string(len) + " is out of range");
    std::string_view rec = data.substr(i + digits + 1, len - digits - 1);
    if (rec.back() != '\n') return corrupt("a record does not end with a newline");
    rec.remove_suffix(1);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos || eq == 0) return corrupt("a record has no KEY=VALUE");
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") {
      out.path = value.empty() ? std::nullopt : std::optional<std::string>(value);
    } else if (key == "size") {
      if (value.empty()) {
        out.size.reset();
      } else {
        uint64_t v = 0;
        for (char ch : value) {
          if (ch < '0' || ch > '9' || v > (UINT64_MAX - 9) / 10)
            return corrupt("size=" + std::string(value) + " is not a size");
          v = v * 10 + (ch - '0');
        }
        out.size = v;
      }
    } else if (key.starts_with("GNU.sparse.")) {
      out.sparse = true;
      if (key == "GNU.sparse.name") out.sparse_name = std::string(value);
    }
    i += len;
  }
  return ok();
}

const char* kind_of(char type) {
  switch (type) {
    case '1': return "hard link";
    case '2': return "symbolic link";
    case '3': return "character device";
    case '4': return "block device";
    case '5':
    case 'D': return "directory";
    case '6': return "FIFO";
    case 'S': return "GNU sparse file";
    case 'M': return "GNU multi-volume continuation";
    default: return nullptr;
  }
}

struct Scanner {
  const ReadAt& read;
  uint64_t file_size;
  std::string_view name;
  uint64_t limit;

  Status read_block(std::span<std::byte> buf, uint64_t offset) const {
    if (limit && (offset > limit || buf.size() > limit - offset))
      return bad("tar-limit=" + std::to_string(limit) + " reached at offset " + std::to_string(offset) +
                 " before entry '" + std::string(name) + "' was found");
    if (offset > file_size || buf.size() > file_size - offset)
      return bad("reached the end of the tar file (" + std::to_string(file_size) + " bytes) at offset " +
                 std::to_string(offset) + " without an end-of-archive marker; entry '" + std::string(name) +
                 "' not found");
    return read(buf, offset);
  }
  // The data of an L/K/x/g header, read whole (these are small).
  Result<std::string> metadata(uint64_t data, uint64_t size, uint64_t header) const {
    if (size > kMaxMetadata)
      return bad(at(header) + ": extended header of " + std::to_string(size) + " bytes is larger than " +
                 std::to_string(kMaxMetadata));
    std::vector<std::byte> buf(size);
    NBD_TRY(read_block(buf, data));
    return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
  }
  Result<Entry> run() const;
};

Result<Entry> Scanner::run() const {
  std::vector<std::byte> block(kBlock);
  Pax global, local;
  std::optional<std::string> long_name;
  for (uint64_t pos = 0;;) {
    NBD_TRY(read_block(block, pos));
    const std::byte* h = block.data();
    bool zero = true;
    for (auto b : block) zero &= b == std::byte{0};
    if (zero)
      return bad("entry '" + std::string(name) + "' not found in the tar file (end of archive at offset " +
                 std::to_string(pos) + ")");
    NBD_TRY(check_checksum(h, pos));
    auto header_size = parse_number(h + 124, 12);
    if (!header_size) return bad(at(pos) + ": corrupt size field");
    char type = static_cast<char>(h[156]);
    uint64_t data = pos + kBlock;
    uint64_t size = type == 'x' || type == 'g' || type == 'L' || type == 'K'
                        ? *header_size
                        : local.size.value_or(global.size.value_or(*header_size));
    if (size > file_size - data)
      return bad(at(pos) + ": its entry (" + std::to_string(size) + " bytes at offset " +
                 std::to_string(data) + ") extends beyond the end of the tar file (" +
                 std::to_string(file_size) + " bytes)");
    uint64_t next = data + (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'L' || type == 'x' || type == 'g') {
      NBD_TRY_ASSIGN(std::string meta, metadata(data, size, pos));
      if (type == 'L') {
        long_name = field(reinterpret_cast<const std::byte*>(meta.data()), meta.size());
      } else {
        NBD_TRY(parse_pax(meta, pos, type == 'x' ? local : global));
      }
      pos = next;
      continue;
    }
    if (type == 'K' || type == 'V') {  // long link name, volume label: nothing to serve
      pos = next;
      continue;
    }
    std::string full = field(h, 100);
    bool posix_ustar = std::memcmp(h + 257, "ustar\0", 6) == 0;
    if (posix_ustar && h[345] != std::byte{0}) full = field(h + 345, 155) + "/" + full;
    if (long_name) full = *long_name;
    if (global.path) full = *global.path;
    if (local.path) full = *local.path;
    bool sparse = local.sparse || global.sparse;
    if (local.sparse_name) full = *local.sparse_name;
    if (full == name) {
      if (type == '\0') type = full.ends_with('/') ? '5' : '0';  // v7: a directory is a name ending in '/'
      if (sparse) type = 'S';
      const char* kind = kind_of(type);
      if (kind)
        return bad("entry '" + full + "' at offset " + std::to_string(pos) + " is a " + kind +
                   ", not a plain file");
      if (type != '0' && type != '7')
        return bad("entry '" + full + "' at offset " + std::to_string(pos) + " has unknown type '" +
                   std::string(1, type) + "'");
      return Entry{data, size};
    }
    local = Pax{};
    long_name.reset();
    pos = next;
  }
}

}  // namespace

Result<Entry> find_entry(const ReadAt& read, uint64_t file_size, std::string_view name, uint64_t limit) {
  return Scanner{read, file_size, name, limit}.run();
}

}  // namespace nbd::tar
