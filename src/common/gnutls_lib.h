// SPDX-License-Identifier: BSD-3-Clause
// gnutls, loaded by dlopen on first use by the client and the server alike: linking it would make
// every start of every tool and server pay for its initialisation (measured: ~13 ms), and most
// never use TLS. One table of the functions both sides call.
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "nbd/result.h"

namespace nbd::tls {

#define NBD_GNUTLS_FUNCTIONS(X)                 \
  X(gnutls_init)                                \
  X(gnutls_deinit)                              \
  X(gnutls_priority_set_direct)                 \
  X(gnutls_credentials_set)                     \
  X(gnutls_certificate_allocate_credentials)    \
  X(gnutls_certificate_free_credentials)        \
  X(gnutls_certificate_set_x509_trust_file)     \
  X(gnutls_certificate_set_x509_system_trust)   \
  X(gnutls_certificate_set_x509_key_file)       \
  X(gnutls_certificate_set_x509_crl_file)       \
  X(gnutls_certificate_server_set_request)      \
  X(gnutls_certificate_get_peers)               \
  X(gnutls_x509_crt_init)                       \
  X(gnutls_x509_crt_deinit)                     \
  X(gnutls_x509_crt_import)                     \
  X(gnutls_x509_crt_get_dn)                     \
  X(gnutls_x509_crt_get_issuer_dn)              \
  X(gnutls_psk_allocate_client_credentials)     \
  X(gnutls_psk_free_client_credentials)         \
  X(gnutls_psk_set_client_credentials)          \
  X(gnutls_psk_allocate_server_credentials)     \
  X(gnutls_psk_free_server_credentials)         \
  X(gnutls_psk_set_server_credentials_file)     \
  X(gnutls_psk_server_get_username)             \
  X(gnutls_transport_set_int2)                  \
  X(gnutls_handshake)                           \
  X(gnutls_handshake_set_timeout)               \
  X(gnutls_record_recv)                         \
  X(gnutls_record_send)                         \
  X(gnutls_record_cork)                         \
  X(gnutls_record_uncork)                       \
  X(gnutls_record_check_pending)                \
  X(gnutls_record_get_direction)                \
  X(gnutls_bye)                                 \
  X(gnutls_strerror)                            \
  X(gnutls_error_is_fatal)                      \
  X(gnutls_session_set_verify_cert)             \
  X(gnutls_session_get_desc)                    \
  X(gnutls_server_name_set)                     \
  X(gnutls_transport_set_ptr)                   \
  X(gnutls_transport_set_push_function)         \
  X(gnutls_transport_set_pull_function)         \
  X(gnutls_transport_set_pull_timeout_function) \
  X(gnutls_global_set_log_level)                \
  X(gnutls_global_set_log_function)

struct Gnutls {
#define NBD_GNUTLS_PTR(f) decltype(&::f) f = nullptr;
  NBD_GNUTLS_FUNCTIONS(NBD_GNUTLS_PTR)
#undef NBD_GNUTLS_PTR
  // gnutls_free is a variable in libgnutls (a pointer to the deallocator), not a function.
  gnutls_free_function* free_fn = nullptr;
  void release(void* p) const {
    if (p && free_fn && *free_fn) (*free_fn)(p);
  }
};

// The table, loaded once per process (thread-safe); ENOTSUP with the reason if libgnutls is
// missing or lacks a function.
Result<const Gnutls*> load_gnutls();

}  // namespace nbd::tls
