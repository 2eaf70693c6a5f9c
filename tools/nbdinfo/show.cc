// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo's default and --list modes: the protocol line, then for each export its size,
// content (probed with file(1)), URI, metadata contexts, flags and block sizes, as text or
// JSON in upstream's layout.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/subprocess.h"
#include "nbdinfo.h"

namespace nbdinfo {

using nbd::client::BlockSizeKind;
using nbd::client::Handle;

namespace {

struct Facts {
  std::string name, description, content, uri;
  bool have_description = false, have_content = false;
  uint64_t size = 0;
  std::vector<std::string> contexts;
  bool rotational = false, read_only = false;
  std::vector<std::pair<const char*, bool>> can;  // can_* in upstream's order
  int64_t block[3] = {0, 0, 0};
};

bool flag(const nbd::Result<bool>& r) { return r && *r; }

// Runs file(1) on the first bytes of the export, as upstream does. Empty if it can't.
std::string probe_content(std::span<const std::byte> data) {
  const char* tmp = getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/nbdinfoXXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) return "";
  bool ok = write(fd, data.data(), data.size()) == ssize_t(data.size());
  close(fd);
  std::string out;
  if (ok) {
    nbd::Program c;
    c.argv = {"file", "-b", path};
    c.in = c.err = nbd::Redirect::null();
    c.out = nbd::Redirect::pipe();
    auto r = nbd::run(c, {.max_output = 4096});
    if (r && nbd::exited_ok(r->wait_status)) out = std::move(r->out);
  }
  unlink(path.c_str());
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

constexpr size_t kProbeBytes = 8192;

std::string read_content(Handle& h, uint64_t size) {
  std::vector<std::byte> buf(std::min<uint64_t>(size, kProbeBytes));
  if (!buf.empty() && !h.pread(buf, 0)) return "";
  return probe_content(buf);
}

void collect(Handle& h, Facts& f, bool captive) {
  auto name = h.get_canonical_export_name();
  f.name = name ? *name : h.get_export_name();
  if (auto d = h.get_export_description(); d && !d->empty()) {
    f.description = *d;
    f.have_description = true;
  }
  f.size = uint64_t(h.get_size().value_or(0));
  // Upstream shows no URI for a captive server: its socket goes away with nbdinfo.
  if (auto u = h.get_uri(); u && !captive) f.uri = *u;
  f.rotational = flag(h.is_rotational());
  f.read_only = flag(h.is_read_only());
  f.can = {{"can_cache", flag(h.can_cache())},
           {"can_df", flag(h.can_df())},
           {"can_fast_zero", flag(h.can_fast_zero())},
           {"can_flush", flag(h.can_flush())},
           {"can_fua", flag(h.can_fua())},
           {"can_multi_conn", flag(h.can_multi_conn())},
           {"can_trim", flag(h.can_trim())},
           {"can_zero", flag(h.can_zero())}};
  f.block[0] = h.get_block_size(BlockSizeKind::Minimum).value_or(0);
  f.block[1] = h.get_block_size(BlockSizeKind::Preferred).value_or(0);
  f.block[2] = h.get_block_size(BlockSizeKind::Maximum).value_or(0);
}

const char* const kBlockNames[] = {"block_size_minimum", "block_size_preferred", "block_size_maximum"};

const char* tf(bool v) { return v ? "true" : "false"; }

void print_text(const Facts& f) {
  {
    ansi::Span bold(ansi::kBoldBlack);
    printf("export=\"%s\":\n", f.name.c_str());
    if (f.have_description) printf("\tdescription: %s\n", f.description.c_str());
    std::string hs = human_size(f.size);
    if (hs != std::to_string(f.size))
      printf("\texport-size: %llu (%s)\n", (unsigned long long)f.size, hs.c_str());
    else
      printf("\texport-size: %llu\n", (unsigned long long)f.size);
    if (f.have_content) printf("\tcontent: %s\n", f.content.c_str());
    if (!f.uri.empty()) printf("\turi: %s\n", f.uri.c_str());
  }
  {
    ansi::Span grey(ansi::kGrey);
    if (!f.contexts.empty()) {
      printf("\tcontexts:\n");
      for (auto& c : f.contexts) printf("\t\t%s\n", c.c_str());
    }
    printf("\tis_rotational: %s\n", tf(f.rotational));
  }
  printf("\tis_read_only: %s\n", tf(f.read_only));
  for (auto& [n, v] : f.can) {
    ansi::Span colour(v ? ansi::kGreen : ansi::kRed);
    printf("\t%s: %s\n", n, tf(v));
  }
  for (int i = 0; i < 3; ++i)
    if (f.block[i] > 0) printf("\t%s: %lld\n", kBlockNames[i], (long long)f.block[i]);
}

void print_json(const Facts& f) {
  printf("\t{\n\t\"export-name\": %s,\n", json_string(f.name).c_str());
  if (f.have_description) printf("\t\"description\": %s,\n", json_string(f.description).c_str());
  if (f.have_content) printf("\t\"content\": %s,\n", json_string(f.content).c_str());
  if (!f.uri.empty()) printf("\t\"uri\": %s,\n", json_string(f.uri).c_str());
  if (!f.contexts.empty()) {
    printf("\t\"contexts\": [\n");
    for (size_t i = 0; i < f.contexts.size(); ++i)
      printf("\t\t%s%s\n", json_string(f.contexts[i]).c_str(), i + 1 < f.contexts.size() ? "," : "");
    printf("\t],\n");
  }
  printf("\t\"is_rotational\": %s,\n\t\"is_read_only\": %s,\n", tf(f.rotational), tf(f.read_only));
  for (auto& [n, v] : f.can) printf("\t\"%s\": %s,\n", n, tf(v));
  for (int i = 0; i < 3; ++i)
    if (f.block[i] > 0) printf("\t\"%s\": %lld,\n", kBlockNames[i], (long long)f.block[i]);
  printf("\t\"export-size\": %llu,\n", (unsigned long long)f.size);
  printf("\t\"export-size-str\": %s\n\t}", json_string(human_size(f.size)).c_str());
}

int fail(Handle& h) {
  fprintf(stderr, "nbdinfo: %s\n", h.get_error().c_str());
  return 1;
}

// Negotiates one export and fills f. want_go: go into transmission (to read content).
int negotiate(Handle& h, const std::string& name, bool want_go, Facts& f) {
  if (!h.aio_is_negotiating()) return 0;  // oldstyle / plain newstyle: already connected
  if (!h.set_export_name(name)) return fail(h);
  if (h.get_structured_replies_negotiated().value_or(false)) {
    nbd::client::ContextCallback cb = [&f](std::string_view c) {
      f.contexts.emplace_back(c);
      return 0;
    };
    (void)h.opt_list_meta_context(cb);
  }
  nbd::Status st = want_go ? h.opt_go() : h.opt_info();
  if (!st) {
    fprintf(stderr, "nbdinfo: %s\n", h.get_error().c_str());
    fprintf(stderr, "nbdinfo: suggestion: to list all exports on the server, use --list\n");
    return 1;
  }
  return 0;
}

// --list --content: the handle stays negotiating, so each export's bytes come over a second
// connection to the same server.
std::string content_over_new_connection(const std::string& uri, uint64_t size) {
  Handle h2;
  h2.set_uri_allow_local_file(true);
  if (!h2.connect_uri(uri)) return "";
  std::string c = read_content(h2, size);
  (void)h2.shutdown();
  return c;
}

}  // namespace

int do_info(Handle& h, const Options& o) {
  bool list = o.mode == Mode::List;
  bool content = o.content < 0 ? !list : o.content == 1;
  std::string proto = h.get_protocol().value_or("unknown");
  bool tls = h.get_tls_negotiated().value_or(false);
  bool sr = h.get_structured_replies_negotiated().value_or(false);
  bool ext = h.get_extended_headers_negotiated().value_or(false);
  std::vector<std::string> names, descriptions;
  if (list) {  // an oldstyle server cannot list: an error, as upstream
    nbd::client::ListCallback cb = [&](std::string_view n, std::string_view d) {
      names.emplace_back(n);
      descriptions.emplace_back(d);
      return 0;
    };
    if (!h.opt_list(cb)) return fail(h);
  } else {
    names.push_back(h.get_export_name());
  }
  if (o.json) {
    printf("{\n\"protocol\": %s,\n\"TLS\": %s,\n\"structured\": %s,\n", json_string(proto).c_str(),
           tls ? "true" : "false", sr ? "true" : "false");
    if (ext) printf("\"extended\": true,\n");
    printf("\"exports\": [\n");
  } else {
    ansi::Span grey(ansi::kGrey);
    printf("protocol: %s %s TLS, using %s packets\n", proto.c_str(), tls ? "with" : "without",
           ext  ? "extended"
           : sr ? "structured"
                : "simple");
  }
  fflush(stdout);
  for (size_t i = 0; i < names.size(); ++i) {
    Facts f;
    if (int r = negotiate(h, names[i], content && !list, f); r != 0) return r;
    collect(h, f, !o.command.empty());
    // With --list the description is the one the list gave, as upstream's (a server may send
    // one there and none in NBD_OPT_INFO).
    if (list && !descriptions[i].empty()) {
      f.description = descriptions[i];
      f.have_description = true;
    }
    if (content) {
      f.content = h.aio_is_ready() ? read_content(h, f.size) : content_over_new_connection(f.uri, f.size);
      f.have_content = !f.content.empty();
    }
    if (o.json) {
      print_json(f);
      printf("%s", i + 1 < names.size() ? ",\n" : "");
    } else {
      print_text(f);
    }
  }
  if (o.json) printf(" ]\n}\n");
  return 0;
}

}  // namespace nbdinfo
