// SPDX-License-Identifier: BSD-3-Clause
// The shape of the gzip and bzip2 filters: formats that cannot be read at random. The first
// client's open decompresses the whole plugin (every stream of a multi-stream file) into an
// unlinked temporary file ($TMPDIR, else /var/tmp), leaving runs of zeroes as holes, and every
// connection then reads that file, read-only, with its holes as extents. A corrupt, truncated
// or foreign file refuses the connection with the reason and the compressed offset.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "common/fd.h"
#include "nbd/filter.h"

namespace nbd::filters {

// One format's decoder, driven by decompress_to_temp. Not thread-safe; one per decompression.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  struct Step {
    size_t consumed = 0;      // bytes of in used
    size_t produced = 0;      // bytes of out filled
    bool stream_end = false;  // a whole stream (gzip member, bzip2 stream) ended here
  };
  // Decodes from in into out; an error's message says what is wrong ("corrupt data").
  virtual Result<Step> step(std::span<const std::byte> in, std::span<std::byte> out) = 0;
  // Gets ready for another stream after stream_end.
  virtual Status restart() = 0;
};

struct DecompressedFile {
  Fd fd;
  uint64_t size = 0;
};

// Decompresses all of below. who names the format in errors ("gzip"); magic is what a file of
// the format starts with; make builds the decoder.
Result<DecompressedFile> decompress_to_temp(Connection& below, std::string_view who,
                                            std::span<const std::byte> magic, StreamDecoder& decoder);

// The filter: decompresses once, on the first open, then serves the file to every connection.
class DecompressingFilter : public Filter {
 public:
  using MakeDecoder = Result<std::unique_ptr<StreamDecoder>> (*)();
  DecompressingFilter(std::string who, std::span<const std::byte> magic, MakeDecoder make)
      : who_(std::move(who)), magic_(magic), make_(make) {}
  Result<std::unique_ptr<Connection>> open(const OpenParams& params, const NextOpen& next) override;

 private:
  std::string who_;
  std::span<const std::byte> magic_;
  MakeDecoder make_;
  std::mutex mu_;  // held while the first client's open decompresses: later ones wait for it
  std::shared_ptr<const DecompressedFile> file_;
};

}  // namespace nbd::filters
