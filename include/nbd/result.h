// SPDX-License-Identifier: BSD-3-Clause
// nbd::Result<T>: a value or an Error{errno, message}. Shaped like std::expected so it can
// become an alias under C++23. Everything the network, a disk, a client or the configuration
// can cause travels as one of these; broken invariants use NBD_ASSERT instead.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nbd {

// errnum is a POSIX errno value (EIO, EINVAL, ENOSPC, ...); the server maps it to the NBD
// error the spec names. message is one line for a human, without a trailing newline.
struct Error {
  int errnum = EIO;
  std::string message;
};

inline Error make_error(int errnum, std::string message) { return Error{errnum, std::move(message)}; }
// A failed system call: "WHAT: strerror(errnum)" with errnum, errno unless given.
inline Error errno_error(std::string_view what, int errnum = errno) {
  return make_error(errnum, std::string(what) + ": " + std::strerror(errnum));
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(const T& v) : v_(std::in_place_index<0>, v) {}
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Error> &&
           !std::is_same_v<std::decay_t<U>, Result>) Result(U&& u)
      : v_(std::in_place_index<0>, T(std::forward<U>(u))) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }
  template <class U>
  T value_or(U&& u) const& {
    return has_value() ? value() : T(std::forward<U>(u));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)) {}
  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const {}
  const Error& error() const& { return *e_; }
  Error&& error() && { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;

inline Status ok() { return {}; }

}  // namespace nbd

#define NBD_CONCAT_INNER(a, b) a##b
#define NBD_CONCAT(a, b) NBD_CONCAT_INNER(a, b)

// Propagates the error of a Result-returning expression to the caller.
#define NBD_TRY(expr)                                      \
  do {                                                     \
    auto&& nbd_try_r_ = (expr);                            \
    if (!nbd_try_r_) return std::move(nbd_try_r_).error(); \
  } while (0)

// NBD_TRY_ASSIGN(auto x, f()) or NBD_TRY_ASSIGN(x, f()): binds the value or returns the error.
#define NBD_TRY_ASSIGN(lhs, expr) NBD_TRY_ASSIGN_IMPL(NBD_CONCAT(nbd_try_r_, __LINE__), lhs, expr)
#define NBD_TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                        \
  if (!tmp) return std::move(tmp).error();  \
  lhs = std::move(tmp).value()

// A broken invariant: abort with file and line. Never for anything a peer or user can cause.
#define NBD_ASSERT(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
