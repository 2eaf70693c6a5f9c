// SPDX-License-Identifier: BSD-3-Clause
// BlockOverlay: block states and the temporary file behind the cow and cache filters.
#include "block_overlay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/zero.h"
#include "nbd/parse.h"
#include "temp_file.h"

namespace nbd::filters {

// A byte of state per block (and 8 more with LRU): past these counts the tables could not be
// held (4G, 8G), so such an export is refused at open instead of failing an allocation later.
constexpr uint64_t kMaxBlocks = uint64_t(1) << 32, kMaxLruBlocks = uint64_t(1) << 30;

Result<std::shared_ptr<BlockOverlay>> BlockOverlay::create(std::string_view who, uint32_t block_size,
                                                           std::string_view dir, bool lru) {
  if (!std::has_single_bit(block_size))
    return make_error(EINVAL, std::string(who) + ": block size not a power of 2");
  NBD_TRY_ASSIGN(Fd fd, unlinked_temp_file(who, dir));
  return std::make_shared<BlockOverlay>(std::string(who), block_size, std::move(fd), lru);
}

BlockOverlay::BlockOverlay(std::string who, uint32_t bs, Fd fd, bool lru)
    : who_(std::move(who)), bs_(bs), shift_(unsigned(std::countr_zero(bs))), fd_(std::move(fd)), lru_(lru) {}

BlockOverlay::~BlockOverlay() = default;

Status BlockOverlay::set_size(uint64_t size) {
  std::lock_guard l(size_mu_);
  if (sized_.load(std::memory_order_relaxed)) {
    if (size != size_.load(std::memory_order_relaxed))
      return make_error(EIO, who_ + ": the plugin's size changed from " + std::to_string(size_) + " to " +
                                 std::to_string(size) + " (the overlay cannot follow a resize)");
    return ok();
  }
  const uint64_t n = size / bs_ + (size % bs_ != 0);
  if (n > (lru_ ? kMaxLruBlocks : kMaxBlocks))
    return make_error(ENOMEM, who_ + ": cannot track " + std::to_string(n) + " blocks of " +
                                  std::to_string(bs_) + " bytes (use a larger block size)");
  // calloc: the kernel hands out zero pages lazily, so a huge sparse export costs only what
  // is touched. A size nothing could track is refused here rather than crashing later.
  states_.reset(n ? static_cast<uint8_t*>(std::calloc(n, 1)) : nullptr);
  if (lru_) used_.reset(n ? static_cast<uint64_t*>(std::calloc(n, sizeof(uint64_t))) : nullptr);
  if (n && (!states_ || (lru_ && !used_)))
    return make_error(ENOMEM, who_ + ": cannot track " + std::to_string(n) + " blocks of " +
                                  std::to_string(bs_) + " bytes (export too large for this block size)");
  blocks_ = n;
  size_.store(size, std::memory_order_release);
  sized_.store(true, std::memory_order_release);
  return ok();
}

uint32_t BlockOverlay::block_length(uint64_t b) const {
  const uint64_t start = block_start(b), sz = size();
  return uint32_t(std::min<uint64_t>(bs_, sz - start));
}

void BlockOverlay::set_state(uint64_t b, BlockState s) {
  const BlockState old = state(b);
  if (holds_bytes(old) != holds_bytes(s)) holds_bytes(s) ? held_.fetch_add(1) : held_.fetch_sub(1);
  if ((old == BlockState::Dirty) != (s == BlockState::Dirty))
    s == BlockState::Dirty ? dirty_.fetch_add(1) : dirty_.fetch_sub(1);
  states_.get()[b] = uint8_t(s);
}

void BlockOverlay::touch(uint64_t b) {
  if (lru_)
    std::atomic_ref<uint64_t>(used_.get()[b]).store(clock_.fetch_add(1) + 1, std::memory_order_relaxed);
}

uint64_t BlockOverlay::last_use(uint64_t b) const {
  return lru_ ? std::atomic_ref<uint64_t>(used_.get()[b]).load(std::memory_order_relaxed) : 0;
}

Status BlockOverlay::read(uint64_t b, uint32_t off, std::span<std::byte> buf) {
  uint64_t pos = block_start(b) + off;
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::pread(fd_.get(), buf.data() + done, buf.size() - done, off_t(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error(who_ + ": reading the temporary file");
    if (r == 0) {  // past the end of the sparse file: never written, so zeroes
      std::memset(buf.data() + done, 0, buf.size() - done);
      break;
    }
    done += size_t(r);
  }
  return ok();
}

Status BlockOverlay::write(uint64_t b, uint32_t off, std::span<const std::byte> buf) {
  uint64_t pos = block_start(b) + off;
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t r = ::pwrite(fd_.get(), buf.data() + done, buf.size() - done, off_t(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error(who_ + ": writing the temporary file");
    done += size_t(r);
  }
  return ok();
}

Status BlockOverlay::punch(uint64_t b, uint32_t off, uint32_t len) {
  const uint64_t pos = block_start(b) + off;
  if (can_punch_.load(std::memory_order_relaxed)) {
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(pos), off_t(len)) == 0)
      return ok();
    if (errno != EOPNOTSUPP && errno != ENOSYS) return errno_error(who_ + ": punching the temporary file");
    can_punch_.store(false, std::memory_order_relaxed);  // a filesystem without holes: write zeroes
  }
  for (uint32_t done = 0; done < len;) {
    uint32_t n = uint32_t(std::min<uint64_t>(len - done, kZeroBufferSize));
    NBD_TRY(write(b, off + done, zero_buffer().first(n)));
    done += n;
  }
  return ok();
}

uint64_t BlockOverlay::file_bytes_for_test() const {
  struct stat st {};
  return ::fstat(fd_.get(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
}

Status for_each_piece(const BlockOverlay& o, uint64_t offset, uint64_t count,
                      const std::function<Status(const Piece&)>& fn) {
  uint64_t pos = 0;
  while (pos < count) {
    const uint64_t at = offset + pos, b = o.block_of(at);
    const uint32_t off = uint32_t(at - o.block_start(b));
    const uint32_t len = uint32_t(std::min<uint64_t>(o.block_size() - off, count - pos));
    NBD_TRY(fn(Piece{b, off, len, pos}));
    pos += len;
  }
  return ok();
}

std::span<std::byte> bounce_buffer(size_t n) {
  thread_local std::vector<std::byte> buf;
  if (buf.size() < n) buf.resize(n);
  return std::span(buf).first(n);
}

Status read_block_below(const BlockOverlay& o, Connection& below, uint64_t b, std::span<std::byte> buf) {
  const uint32_t len = o.block_length(b);
  NBD_TRY(below.pread(buf.first(len), o.block_start(b), 0));
  std::memset(buf.data() + len, 0, buf.size() - len);
  return ok();
}

Status overlay_extents(BlockOverlay& o, Connection& below, uint64_t count, uint64_t offset, uint32_t flags,
                       ExtentList& out, const std::function<int64_t(BlockState)>& classify) {
  const uint64_t end = offset + count;
  uint64_t b = o.block_of(offset);
  auto kind = [&](uint64_t blk) {
    auto l = o.lock(blk);
    return classify(o.state(blk));
  };
  while (o.block_start(b) < end) {
    const int64_t k = kind(b);
    uint64_t last = b + 1;
    while (o.block_start(last) < end && last < o.blocks() && kind(last) == k) ++last;
    const uint64_t from = std::max(offset, o.block_start(b));
    const uint64_t to = std::min({end, o.block_start(last), o.size()});
    if (k >= 0) {
      NBD_TRY(out.add(from, to - from, uint64_t(k)));
    } else {
      ExtentList sub(from, to);
      NBD_TRY(below.extents(to - from, from, flags & kReqOne, sub));
      for (const Extent& e : sub.extents()) NBD_TRY(out.add(e.offset, e.length, e.flags));
      if (sub.next_offset() < to) return ok();  // below answered for less: so do we
    }
    if (flags & kReqOne) return ok();
    b = last;
  }
  return ok();
}

Status BoolOrPath::parse(std::string_view key, std::string_view value) {
  if (!value.empty() && value.front() == '/') {
    path_ = std::string(value);
    return ok();
  }
  auto v = parse_bool(key, value);
  if (!v)
    return make_error(EINVAL, std::string(key) + "=" + std::string(value) +
                                  ": not a boolean (true/false) or an absolute /PATH");
  value_ = *v;
  path_.clear();
  return ok();
}

bool BoolOrPath::now() const {
  if (path_.empty()) return value_;
  return ::access(path_.c_str(), F_OK) == 0;
}

}  // namespace nbd::filters
