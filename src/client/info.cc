// SPDX-License-Identifier: BSD-3-Clause
// Export information getters: valid after opt_info, or once the handle is ready.
#include "client/impl.h"

namespace nbd::client {

namespace {
using namespace nbd::protocol;

Result<const ExportInfo*> need_info(const Handle::Impl& ch) {
  auto& h = const_cast<Handle::Impl&>(ch);
  if (!h.info.valid)
    return h.fail(EINVAL, "invalid state: %s: the export information is not known yet",
                  client::state_name(h.state));
  return &h.info;
}

Result<bool> flag(const Handle::Impl& h, uint16_t bit) {
  NBD_TRY_ASSIGN(const ExportInfo* i, need_info(h));
  return (i->flags & bit) != 0;
}

Result<bool> negotiated(const Handle::Impl& ch, bool value) {
  auto& h = const_cast<Handle::Impl&>(ch);
  if (h.state == State::Created || h.state == State::Connecting)
    return h.fail(EINVAL, "invalid state: %s: the handle is not connected", client::state_name(h.state));
  return value;
}
}  // namespace

Result<int64_t> Handle::get_size() const {
  NBD_HANDLE_CALL("nbd_get_size");
  NBD_TRY_ASSIGN(const ExportInfo* i, need_info(*impl_));
  return int64_t(i->size);
}

Result<int64_t> Handle::get_block_size(BlockSizeKind which) const {
  NBD_HANDLE_CALL("nbd_get_block_size");
  NBD_TRY_ASSIGN(const ExportInfo* i, need_info(*impl_));
  switch (which) {
    case BlockSizeKind::Minimum: return int64_t(i->block_size.minimum);
    case BlockSizeKind::Preferred: return int64_t(i->block_size.preferred);
    case BlockSizeKind::Maximum: return int64_t(i->block_size.maximum);
    case BlockSizeKind::Payload: {
      // The largest read/write payload we will send: the server's maximum, capped at 32M.
      uint64_t m = i->block_size.maximum ? i->block_size.maximum : kDefaultMaxPayload;
      return int64_t(m < kDefaultMaxPayload ? m : kDefaultMaxPayload);
    }
  }
  return impl_->fail(EINVAL, "unknown block size kind");
}

// One line per export flag getter: the lock and the call's name, then the flag.
#define NBD_FLAG_GETTER(method, bit)    \
  Result<bool> Handle::method() const { \
    NBD_HANDLE_CALL("nbd_" #method);    \
    return flag(*impl_, bit);           \
  }
NBD_FLAG_GETTER(is_read_only, kFlagReadOnly)
NBD_FLAG_GETTER(is_rotational, kFlagRotational)
NBD_FLAG_GETTER(can_flush, kFlagSendFlush)
NBD_FLAG_GETTER(can_fua, kFlagSendFua)
NBD_FLAG_GETTER(can_trim, kFlagSendTrim)
NBD_FLAG_GETTER(can_zero, kFlagSendWriteZeroes)
NBD_FLAG_GETTER(can_fast_zero, kFlagSendFastZero)
NBD_FLAG_GETTER(can_df, kFlagSendDf)
NBD_FLAG_GETTER(can_multi_conn, kFlagCanMultiConn)
NBD_FLAG_GETTER(can_cache, kFlagSendCache)
#undef NBD_FLAG_GETTER

Result<bool> Handle::can_meta_context(std::string_view name) const {
  NBD_HANDLE_CALL("nbd_can_meta_context");
  NBD_TRY(need_info(*impl_));
  for (auto& [id, n] : impl_->meta_contexts)
    if (n == name) return true;
  return false;
}

Result<std::string> Handle::get_canonical_export_name() const {
  NBD_HANDLE_CALL("nbd_get_canonical_export_name");
  NBD_TRY_ASSIGN(const ExportInfo* i, need_info(*impl_));
  if (!i->have_name) return impl_->export_name;  // servers that don't send NBD_INFO_NAME
  return i->canonical_name;
}

Result<std::string> Handle::get_export_description() const {
  NBD_HANDLE_CALL("nbd_get_export_description");
  NBD_TRY_ASSIGN(const ExportInfo* i, need_info(*impl_));
  if (!i->have_description) return impl_->fail(ENOTSUP, "server did not advertise a description");
  return i->description;
}

Result<std::string> Handle::get_protocol() const {
  NBD_HANDLE_CALL("nbd_get_protocol");
  NBD_TRY(negotiated(*impl_, true));
  if (impl_->oldstyle) return std::string("oldstyle");
  return std::string(impl_->fixed_newstyle ? "newstyle-fixed" : "newstyle");
}

Result<bool> Handle::get_structured_replies_negotiated() const {
  NBD_HANDLE_CALL("nbd_get_structured_replies_negotiated");
  return negotiated(*impl_, impl_->sr);
}
Result<bool> Handle::get_extended_headers_negotiated() const {
  NBD_HANDLE_CALL("nbd_get_extended_headers_negotiated");
  return negotiated(*impl_, impl_->ext);
}
Result<bool> Handle::get_tls_negotiated() const {
  NBD_HANDLE_CALL("nbd_get_tls_negotiated");
  return negotiated(*impl_, impl_->tls_on);
}

Result<std::string> Handle::get_uri() const {
  NBD_HANDLE_CALL("nbd_get_uri");
  const Impl& h = *impl_;
  bool tls = h.tls_on || h.tls == TlsMode::Require;
  std::string user = h.tls_username.empty() || h.tls == TlsMode::Disable ? "" : h.tls_username + "@";
  std::string path = "/" + uri_encode_path(h.export_name);
  std::string query;
  auto add = [&query](const char* key, const std::string& v) {
    if (!v.empty()) query += std::string(query.empty() ? "?" : "&") + key + "=" + v;
  };
  if (h.where == Impl::Where::Unix) add("socket", h.where_socket);
  if (h.tls != TlsMode::Disable) {
    add("tls-certificates", h.tls_certificates);
    add("tls-psk-file", h.tls_psk_file);
  }
  switch (h.where) {
    case Impl::Where::Tcp: {
      bool v6 = h.where_host.find(':') != std::string::npos;
      std::string host = v6 ? "[" + h.where_host + "]" : h.where_host;
      return std::string(tls ? "nbds://" : "nbd://") + user + host + ":" + h.where_port + path + query;
    }
    case Impl::Where::Unix: return std::string(tls ? "nbds+unix://" : "nbd+unix://") + user + path + query;
    case Impl::Where::Vsock:
      return std::string(tls ? "nbds+vsock://" : "nbd+vsock://") + user + h.where_host + ":" + h.where_port +
             path + query;
    case Impl::Where::None: break;
  }
  return impl_->fail(EINVAL, "the handle was not connected to a socket address");
}

}  // namespace nbd::client
