// SPDX-License-Identifier: BSD-3-Clause
// libcurl easy handles for the curl plugin: options, HEAD/ranged GET/PUT, and the checks that
// turn a server that misbehaves (no Range, a short body, an error status) into one clear line.
#include "plugins/curl/easy.h"

#include <strings.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace nbd::plugins::curl_plugin {
namespace {

constexpr long kReceiveBuffer = 512 << 10;

template <typename T>
Status set(CURL* h, CURLoption opt, T value, const char* what) {
  const CURLcode rc = curl_easy_setopt(h, opt, value);
  if (rc != CURLE_OK) return make_error(EINVAL, std::string(what) + ": " + curl_easy_strerror(rc));
  return ok();
}

Status set_str(CURL* h, CURLoption opt, const std::optional<std::string>& v, const char* what) {
  if (!v) return ok();
  return set(h, opt, v->c_str(), what);
}

// The options that are a string the user gave (or left unset), with the parameter they came from.
struct StringOption {
  CURLoption opt;
  std::optional<std::string> Options::*field;
  const char* what;
};
constexpr StringOption kStringOptions[] = {
    {CURLOPT_CAINFO, &Options::cainfo, "cainfo"},
    {CURLOPT_CAPATH, &Options::capath, "capath"},
    {CURLOPT_SSL_CIPHER_LIST, &Options::ssl_cipher_list, "ssl-cipher-list"},
    {CURLOPT_TLS13_CIPHERS, &Options::tls13_ciphers, "tls13-ciphers"},
    {CURLOPT_USERNAME, &Options::user, "user"},
    {CURLOPT_PASSWORD, &Options::password, "password"},
    {CURLOPT_PROXY, &Options::proxy, "proxy"},
    {CURLOPT_PROXYUSERNAME, &Options::proxy_user, "proxy-user"},
    {CURLOPT_PROXYPASSWORD, &Options::proxy_password, "proxy-password"},
    {CURLOPT_COOKIE, &Options::cookie, "cookie"},
    {CURLOPT_COOKIEFILE, &Options::cookiefile, "cookiefile"},
    {CURLOPT_COOKIEJAR, &Options::cookiejar, "cookiejar"},
    {CURLOPT_PROTOCOLS_STR, &Options::protocols, "protocols"},
    {CURLOPT_REDIR_PROTOCOLS_STR, &Options::protocols, "protocols"},
    {CURLOPT_UNIX_SOCKET_PATH, &Options::unix_socket_path, "unix-socket-path"},
    {CURLOPT_USERAGENT, &Options::user_agent, "user-agent"},
};

std::string range_of(uint64_t offset, uint64_t count) {
  return std::to_string(offset) + "-" + std::to_string(offset + count - 1);
}

// A header's value from the last response (the final one after redirects), or empty.
std::string header_value(CURL* h, const char* name) {
  curl_header* hdr = nullptr;
  if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK || !hdr || !hdr->value) return {};
  return hdr->value;
}

// "bytes A-B/N" or "bytes */N" → N; nullopt for "*" or anything unreadable.
std::optional<uint64_t> total_from_content_range(const std::string& v) {
  const auto slash = v.rfind('/');
  if (v.compare(0, 6, "bytes ") != 0 || slash == std::string::npos) return std::nullopt;
  const std::string n = v.substr(slash + 1);
  if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 19)
    return std::nullopt;
  return std::stoull(n);
}

}  // namespace

struct Share::Locks {
  std::mutex m[CURL_LOCK_DATA_LAST];
};

Result<std::unique_ptr<Share>> Share::create() {
  std::unique_ptr<Share> s(new Share);
  s->sh_ = curl_share_init();
  if (!s->sh_) return make_error(ENOMEM, "curl_share_init failed");
  s->locks_ = std::make_unique<Locks>();
  auto lock =
      +[](CURL*, curl_lock_data d, curl_lock_access, void* p) { static_cast<Locks*>(p)->m[d].lock(); };
  auto unlock = +[](CURL*, curl_lock_data d, void* p) { static_cast<Locks*>(p)->m[d].unlock(); };
  curl_share_setopt(s->sh_, CURLSHOPT_LOCKFUNC, lock);
  curl_share_setopt(s->sh_, CURLSHOPT_UNLOCKFUNC, unlock);
  curl_share_setopt(s->sh_, CURLSHOPT_USERDATA, s->locks_.get());
  for (auto d : {CURL_LOCK_DATA_COOKIE, CURL_LOCK_DATA_DNS, CURL_LOCK_DATA_SSL_SESSION})
    curl_share_setopt(s->sh_, CURLSHOPT_SHARE, d);
  return s;
}

Share::~Share() {
  if (sh_) curl_share_cleanup(sh_);
}

Result<std::unique_ptr<Easy>> Easy::create(const Options& o, Share* share) {
  std::unique_ptr<Easy> e(new Easy(o));
  e->h_ = curl_easy_init();
  if (!e->h_) return make_error(ENOMEM, "curl_easy_init failed");
  CURL* h = e->h_;
  NBD_TRY(set(h, CURLOPT_ERRORBUFFER, e->errbuf_, "error buffer"));
  NBD_TRY(set(h, CURLOPT_NOSIGNAL, 1L, "nosignal"));  // threads: no SIGALRM for DNS timeouts
  NBD_TRY(set(h, CURLOPT_URL, o.url.c_str(), "url"));
  if (share) NBD_TRY(set(h, CURLOPT_SHARE, share->get(), "share"));
  NBD_TRY(set(h, CURLOPT_VERBOSE, o.verbose ? 1L : 0L, "verbose"));
  NBD_TRY(set(h, CURLOPT_FOLLOWLOCATION, o.followlocation ? 1L : 0L, "followlocation"));
  NBD_TRY(set(h, CURLOPT_MAXREDIRS, 20L, "followlocation"));
  NBD_TRY(set(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout_s), "connect timeout"));
  NBD_TRY(set(h, CURLOPT_LOW_SPEED_LIMIT, 1L, "stall limit"));
  NBD_TRY(set(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_s), "stall limit"));
  if (o.timeout_s) NBD_TRY(set(h, CURLOPT_TIMEOUT, static_cast<long>(o.timeout_s), "timeout"));
  NBD_TRY(set(h, CURLOPT_TCP_KEEPALIVE, o.tcp_keepalive ? 1L : 0L, "tcp-keepalive"));
  // libcurl reads 16 KiB at a time by default: a 256 KiB read would take 16 recv calls and
  // callbacks. Measured with nbdcopy from nginx on loopback: see bench/ (curl row).
  NBD_TRY(set(h, CURLOPT_BUFFERSIZE, kReceiveBuffer, "buffer size"));
  NBD_TRY(set(h, CURLOPT_TCP_NODELAY, o.tcp_nodelay ? 1L : 0L, "tcp-nodelay"));
  if (!o.sslverify) {
    NBD_TRY(set(h, CURLOPT_SSL_VERIFYPEER, 0L, "sslverify"));
    NBD_TRY(set(h, CURLOPT_SSL_VERIFYHOST, 0L, "sslverify"));
  }
  if (o.ssl_version) NBD_TRY(set(h, CURLOPT_SSLVERSION, *o.ssl_version, "ssl-version"));
  for (const auto& [opt, field, what] : kStringOptions) NBD_TRY(set_str(h, opt, o.*field, what));

  using WriteFn = size_t (*)(char*, size_t, size_t, void*);
  WriteFn on_body = [](char* p, size_t size, size_t n, void* ud) -> size_t {
    auto* self = static_cast<Easy*>(ud);
    const size_t len = size * n;
    if (len > self->in_.size() - self->got_) {
      self->overflow_ = true;
      return 0;  // anything but len aborts the transfer
    }
    std::memcpy(self->in_.data() + self->got_, p, len);
    self->got_ += len;
    return len;
  };
  WriteFn on_upload = [](char* p, size_t size, size_t n, void* ud) -> size_t {
    auto* self = static_cast<Easy*>(ud);
    const size_t len = std::min(size * n, self->out_.size());
    std::memcpy(p, self->out_.data(), len);
    self->out_ = self->out_.subspan(len);
    return len;
  };
  NBD_TRY(set(h, CURLOPT_WRITEFUNCTION, on_body, "write callback"));
  NBD_TRY(set(h, CURLOPT_WRITEDATA, e.get(), "write callback"));
  NBD_TRY(set(h, CURLOPT_READFUNCTION, on_upload, "read callback"));
  NBD_TRY(set(h, CURLOPT_READDATA, e.get(), "read callback"));
  NBD_TRY(e->set_headers({}, nullptr));
  return e;
}

Easy::~Easy() {
  if (h_) curl_easy_cleanup(h_);  // writes cookiejar= if set
  curl_slist_free_all(headers_);
}

Status Easy::set_headers(const std::vector<std::string>& extra, const char* content_range) {
  curl_slist* list = nullptr;
  auto add = [&list](const std::string& s) {
    curl_slist* n = curl_slist_append(list, s.c_str());
    if (!n) return false;
    list = n;
    return true;
  };
  bool good = true;
  for (const auto& s : o_.headers) good = good && add(s);
  for (const auto& s : extra) good = good && add(s);
  if (content_range) good = good && add(content_range);
  if (!good) {
    curl_slist_free_all(list);
    return make_error(ENOMEM, "out of memory for headers");
  }
  // libcurl keeps only the pointer: the list must live as long as it is set.
  Status s = set(h_, CURLOPT_HTTPHEADER, list, "header");
  curl_slist_free_all(headers_);
  headers_ = list;
  return s;
}

Status Easy::use(const Generated& g) {
  if (g.generation == generation_) return ok();
  generated_headers_ = g.headers;
  NBD_TRY(set_headers(generated_headers_, nullptr));
  if (g.cookie) {
    cookie_ = *g.cookie;
    NBD_TRY(set(h_, CURLOPT_COOKIE, cookie_.c_str(), "cookie-script"));
  }
  generation_ = g.generation;
  return ok();
}

bool Easy::is_http() const {
  char* scheme = nullptr;
  if (curl_easy_getinfo(h_, CURLINFO_SCHEME, &scheme) == CURLE_OK && scheme)
    return strncasecmp(scheme, "http", 4) == 0;
  return strncasecmp(o_.url.c_str(), "http", 4) == 0;
}

long Easy::status() const {
  long code = 0;
  curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

// Runs the transfer set up, and fails for a transport error or an HTTP status other than 2xx.
// A body the write callback refused (overflow_) is left to the caller to name.
Status Easy::perform(const char* what) {
  errbuf_[0] = '\0';
  got_ = 0, overflow_ = false;
  const CURLcode rc = curl_easy_perform(h_);
  const long st = status();
  auto where = [&] { return std::string(what) + " " + o_.url + ": "; };  // only for errors
  if (is_http() && st != 0 && (st < 200 || st > 299)) {
    std::string hint;
    if (st == 401 || st == 403) hint = " (check user= and password=)";
    if (st >= 300 && st < 400) hint = " (a redirect: followlocation=true follows it)";
    return make_error(EIO, where() + "the server answered HTTP " + std::to_string(st) + hint);
  }
  if (rc != CURLE_OK && !overflow_) {
    const int err = rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EIO;
    return make_error(err, where() + (errbuf_[0] ? errbuf_ : curl_easy_strerror(rc)));
  }
  return ok();
}

Result<uint64_t> Easy::probe_size() {
  NBD_TRY(set(h_, CURLOPT_NOBODY, 1L, "HEAD"));
  Status head = perform("HEAD");
  // Some servers take GET but refuse HEAD (presigned object-store URLs sign the method): then
  // the one-byte GET below answers instead.
  const long head_status = status();
  const bool head_refused =
      !head && is_http() && (head_status == 403 || head_status == 405 || head_status == 501);
  if (!head && !head_refused) return std::move(head).error();
  curl_off_t len = -1;
  if (head) curl_easy_getinfo(h_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  const bool http = is_http();
  std::string accept = head ? header_value(h_, "Accept-Ranges") : std::string();
  if (len >= 0 && (!http || strcasestr(accept.c_str(), "bytes"))) return static_cast<uint64_t>(len);
  if (!http) return make_error(EIO, o_.url + ": could not get the size of the resource");

  // No length, or Range not promised: ask for one byte, which answers both.
  std::byte one[1];
  in_ = one;
  NBD_TRY(set(h_, CURLOPT_HTTPGET, 1L, "GET"));
  NBD_TRY(set(h_, CURLOPT_RANGE, "0-0", "GET"));
  Status s = perform("GET");
  NBD_TRY(set(h_, CURLOPT_RANGE, static_cast<const char*>(nullptr), "GET"));
  const long st = status();
  if (!s && st != 416) return std::move(s).error();  // 416: an empty resource, whose size Content-Range gives
  if (st == 206 || st == 416) {
    if (auto n = total_from_content_range(header_value(h_, "Content-Range"))) return *n;
    return make_error(EIO, o_.url + ": the server gives no Content-Length and no size in Content-Range");
  }
  return make_error(EIO,
                    o_.url +
                        ": the server does not support 'range' (byte range) requests, so it cannot serve "
                        "a disk (it answered HTTP " +
                        std::to_string(st) + " with the whole body)");
}

Status Easy::read(std::span<std::byte> buf, uint64_t offset, uint64_t whole_size) {
  if (buf.empty()) return ok();
  const std::string range = range_of(offset, buf.size());
  in_ = buf;
  NBD_TRY(set(h_, CURLOPT_HTTPGET, 1L, "GET"));
  NBD_TRY(set(h_, CURLOPT_RANGE, range.c_str(), "GET"));
  Status s = perform("GET");
  if (!s) return s;
  const long st = is_http() ? status() : 206;
  const bool whole = offset == 0 && buf.size() == whole_size;
  if (overflow_ || (st == 200 && !whole))
    return make_error(EIO, "GET " + o_.url + " bytes " + range +
                               (st == 200 ? ": the server ignored the range and sent the whole resource"
                                          : ": the server sent more bytes than asked"));
  if (got_ != buf.size())
    return make_error(EIO, "GET " + o_.url + " bytes " + range + ": the server sent " + std::to_string(got_) +
                               " of " + std::to_string(buf.size()) + " bytes");
  return ok();
}

Status Easy::write(std::span<const std::byte> buf, uint64_t offset) {
  if (buf.empty()) return ok();
  const std::string content_range = "Content-Range: bytes " + range_of(offset, buf.size()) + "/*";
  out_ = buf;
  NBD_TRY(set(h_, CURLOPT_UPLOAD, 1L, "PUT"));
  NBD_TRY(set(h_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(buf.size()), "PUT"));
  NBD_TRY(set_headers(generated_headers_, content_range.c_str()));
  Status s = perform("PUT");
  Status restore = set_headers(generated_headers_, nullptr);
  NBD_TRY(set(h_, CURLOPT_UPLOAD, 0L, "PUT"));
  if (!s) return s;
  if (!out_.empty()) return make_error(EIO, "PUT " + o_.url + ": the server took only part of the data");
  return restore;
}

}  // namespace nbd::plugins::curl_plugin
