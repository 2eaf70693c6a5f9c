// SPDX-License-Identifier: BSD-3-Clause
// nbdinfo: show facts about an NBD server and its exports (libnbd's nbdinfo command line).
// Connects with nbd::client (URI or a socket-activated [ CMD ARGS ... ]) and runs one mode.
#include "nbdinfo.h"

#include <unistd.h>

#include <cstdio>

using nbd::client::Handle;
using namespace nbdinfo;

namespace {

// Unknown --can/--is words fail before connecting, as upstream does.
bool known_can(const Options& o) {
  static const char* const kCan[] = {"connect",
                                     "read",
                                     "write",
                                     "cache",
                                     "df",
                                     "fast-zero",
                                     "fast_zero",
                                     "flush",
                                     "fua",
                                     "multi-conn",
                                     "multi_conn",
                                     "trim",
                                     "zero",
                                     "structured-reply",
                                     "structured_reply",
                                     "extended-headers",
                                     "extended_headers"};
  static const char* const kIs[] = {"read-only", "read_only", "readonly", "rotational", "tls"};
  if (o.can_kind == "has") return !o.can_what.empty();
  if (o.can_kind == "is") {
    for (auto w : kIs)
      if (o.can_what == w) return true;
    return false;
  }
  for (auto w : kCan)
    if (o.can_what == w) return true;
  return false;
}

nbd::Status connect(Handle& h, const Options& o) {
  h.set_uri_allow_local_file(true);
  if (o.mode == Mode::Map) NBD_TRY(h.add_meta_context(o.map_context));
  if (o.mode == Mode::Can && o.can_kind == "has") NBD_TRY(h.add_meta_context(o.can_what));
  if (o.mode == Mode::Info || o.mode == Mode::List) {
    NBD_TRY(h.set_opt_mode(true));
    NBD_TRY(h.set_full_info(true));
  }
  if (!o.command.empty()) return h.connect_systemd_socket_activation(o.command);
  return h.connect_uri(o.uri);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_options(args);
  if (!parsed) {
    const auto& e = parsed.error();
    if (!e.message.empty()) fprintf(stderr, "nbdinfo: %s\n", e.message.c_str());
    if (e.errnum == EINVAL) print_usage(stderr);
    return 1;
  }
  const Options& o = *parsed;
  if (o.help) {
    print_usage(stdout);
    return 0;
  }
  if (o.version) {
    printf("nbdinfo %s\nnbd::client %s\n", nbd::client::version(), nbd::client::version());
    return 0;
  }
  if (o.mode == Mode::Can && !known_can(o)) {
    fprintf(stderr, "nbdinfo: unknown --can or --is option: %s\n", o.can_what.c_str());
    return 1;
  }
  // As upstream: JSON is never coloured; text is when asked, or on a terminal.
  ansi::enabled = !o.json && (o.color >= 0 ? o.color == 1 : isatty(STDOUT_FILENO) == 1);
  Handle h;
  if (!connect(h, o)) {
    fprintf(stderr, "nbdinfo: %s\n", h.get_error().c_str());
    return 1;
  }
  int status = 0;
  switch (o.mode) {
    case Mode::Size: printf("%lld\n", (long long)h.get_size().value_or(0)); break;
    case Mode::Uri: {
      auto u = h.get_uri();
      if (u)
        printf("%s\n", u->c_str());
      else
        status = (fprintf(stderr, "nbdinfo: %s\n", h.get_error().c_str()), 1);
      break;
    }
    case Mode::Map: status = do_map(h, o); break;
    case Mode::Can: status = do_can(h, o); break;
    case Mode::Info:
    case Mode::List: status = do_info(h, o); break;
  }
  fflush(stdout);
  // Say goodbye without waiting for the server to hang up: nothing more is needed from it.
  if (h.aio_is_negotiating()) {
    (void)h.opt_abort();
  } else if (h.aio_is_ready() && h.aio_disconnect()) {
    while (h.aio_get_direction() & nbd::client::kAioDirectionWrite)
      if (!h.aio_notify_write()) break;
  }
  return status;
}
