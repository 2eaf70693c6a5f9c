// SPDX-License-Identifier: BSD-3-Clause
// Endpoints without random access: pipes, sockets and character devices ("-" is stdin or
// stdout), read and written strictly in order, and the null: destination that discards data.
#include <unistd.h>

#include <cerrno>
#include <string>

#include "endpoint.h"
#include "io_util.h"

namespace nbd::copy {
namespace {

class PipeChannel final : public Channel {
 public:
  explicit PipeChannel(int fd) : fd_(fd) {}

  // The offset is ignored: the synchronous copier hands out offsets in order.
  void read(std::span<std::byte> buf, uint64_t, Completion& c, size_t* got) override {
    auto r = read_full(fd_, buf);
    if (got && r) *got = *r;
    c.complete(r ? ok() : Status(std::move(r).error()));
  }
  void write(std::span<const std::byte> buf, uint64_t, Completion& c) override {
    c.complete(write_full(fd_, buf));
  }
  void zero(uint64_t count, uint64_t, bool, Completion& c) override {
    c.complete(write_zeroes(fd_, count, kStreamOffset));
  }
  Status extents(uint64_t count, uint64_t offset, std::vector<Extent>& out) override {
    out.push_back({offset, count, 0});
    return ok();
  }
  Status flush() override { return ok(); }

 private:
  int fd_;
};

class PipeEndpoint final : public Endpoint {
 public:
  PipeEndpoint(int fd, std::string name, bool owned) : fd_(fd), name_(std::move(name)), owned_(owned) {}
  ~PipeEndpoint() override {
    if (owned_) ::close(fd_);
  }
  const std::string& name() const override { return name_; }
  std::optional<uint64_t> size() const override { return std::nullopt; }
  bool is_stream() const override { return true; }
  unsigned max_channels() const override { return 1; }
  Result<bool> prepare_destination(std::optional<uint64_t>) override { return false; }
  Result<std::unique_ptr<Channel>> open_channel() override {
    return std::unique_ptr<Channel>(std::make_unique<PipeChannel>(fd_));
  }

 private:
  int fd_;
  std::string name_;
  bool owned_;
};

class NullChannel final : public Channel {
 public:
  void read(std::span<std::byte>, uint64_t, Completion& c, size_t*) override {
    c.complete(make_error(EINVAL, "null: cannot be a source"));
  }
  void write(std::span<const std::byte>, uint64_t, Completion& c) override { c.complete(ok()); }
  void zero(uint64_t, uint64_t, bool, Completion& c) override { c.complete(ok()); }
  Status extents(uint64_t, uint64_t, std::vector<Extent>&) override {
    return make_error(EINVAL, "null: cannot be a source");
  }
  Status flush() override { return ok(); }
};

class NullEndpoint final : public Endpoint {
 public:
  const std::string& name() const override { return name_; }
  // Any size fits: the destination size check never fails.
  std::optional<uint64_t> size() const override { return std::nullopt; }
  unsigned max_channels() const override { return 1024; }
  bool discards_writes() const override { return true; }
  Result<bool> prepare_destination(std::optional<uint64_t>) override { return true; }
  Result<std::unique_ptr<Channel>> open_channel() override {
    return std::unique_ptr<Channel>(std::make_unique<NullChannel>());
  }

 private:
  std::string name_ = "null:";
};

}  // namespace

Result<std::unique_ptr<Endpoint>> open_pipe_endpoint(int fd, const std::string& name, Role) {
  bool owned = name != "-";
  return std::unique_ptr<Endpoint>(std::make_unique<PipeEndpoint>(fd, name, owned));
}

Result<std::unique_ptr<Endpoint>> open_null_endpoint() {
  return std::unique_ptr<Endpoint>(std::make_unique<NullEndpoint>());
}

}  // namespace nbd::copy
