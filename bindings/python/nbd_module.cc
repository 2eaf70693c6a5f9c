// SPDX-License-Identifier: BSD-3-Clause
// _nbd: the C++ half of the Python module `nbd` (bindings/python/nbd.py), pybind11 over
// nbd::client::Handle, with the calling conventions of python3-libnbd: methods raise nbd.Error
// (args: message, errno), reads return bytearray, callbacks get (memoryview|str, int, ..., c_int
// error) and return an int, aio_* take nbd.Buffer. Blocking calls release the GIL; callbacks
// take it back.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "nbd/client.h"

namespace py = pybind11;
using nbd::client::Cookie;
using nbd::client::Handle;

namespace {

PyObject* g_error = nullptr;  // nbd.Error, made in PYBIND11_MODULE

[[noreturn]] void raise(const nbd::Error& e) {
  PyErr_SetObject(g_error, py::make_tuple(e.message, e.errnum).ptr());
  throw py::error_already_set();
}
void check(const nbd::Status& s) {
  if (!s) raise(s.error());
}
template <class T>
T check(nbd::Result<T> r) {
  if (!r) raise(r.error());
  return std::move(*r);
}

// Runs f without the GIL (the handle may wait on the network), then raises its error.
template <class F>
auto nogil(F&& f) {
  decltype(f()) r = [&] {
    py::gil_scoped_release release;
    return f();
  }();
  return check(std::move(r));
}

// A Python callback's `error` argument: a ctypes.c_int the callback may set.
py::object c_int(int v) { return py::module_::import("ctypes").attr("c_int")(v); }

// Calls a Python callback from inside the client library with the arguments args() makes
// (under the GIL) and a c_int error last: its int result, or -1 (with the traceback printed,
// as python3-libnbd does) if it raised.
template <class Args>
int call_back(const py::object& fn, int* error, Args&& args) {
  py::gil_scoped_acquire gil;
  try {
    py::object err = c_int(error ? *error : 0);
    py::object r = fn(*args(), err);
    if (error) *error = err.attr("value").cast<int>();
    return r.is_none() ? 0 : r.cast<int>();
  } catch (py::error_already_set& e) {
    e.restore();
    PyErr_Print();
    return -1;
  }
}

// Calls a Python callback that returns nothing the library uses (opt_list, the context lists),
// under the GIL; an exception is printed, as python3-libnbd does.
template <class... A>
int notify(const py::object& fn, A&&... a) {
  py::gil_scoped_acquire gil;
  try {
    fn(std::forward<A>(a)...);
  } catch (py::error_already_set& e) {
    e.restore();
    PyErr_Print();
  }
  return 0;
}

// What an aio command keeps alive until it retires: its buffer and its callbacks.
struct Pending {
  py::object buffer, extra, completion;
};
// The completion side of an aio command: calls completion(error) if given, frees the Pending.
nbd::client::CompletionCallback retire(Pending* p) {
  return [p](int* error) -> int {
    // Without a completion the command waits for aio_command_completed, as in libnbd.
    int r = 0;
    if (!p->completion.is_none()) r = call_back(p->completion, error, [] { return py::tuple(); });
    py::gil_scoped_acquire gil;
    delete p;
    return r;
  };
}

// Queues an aio command whose buffer and callbacks p keeps alive: issue(completion) submits it;
// the cookie, or nbd.Error (and p freed) when it cannot be queued.
template <class F>
Cookie submit(Pending* p, F&& issue) {
  auto r = issue(retire(p));
  if (!r) delete p;
  return check(std::move(r));
}

// Starts an aio option whose callbacks p keeps alive: start(completion, p) begins it; nbd.Error
// (and p freed) when it cannot start.
template <class F>
void start_option(Pending* p, F&& start) {
  nbd::Status st = start(retire(p), p);
  if (!st) delete p;
  check(st);
}

// The writable bytes of an nbd.Buffer (its bytearray, kept in ._ba).
std::span<std::byte> buffer_bytes(const py::object& buf) {
  py::buffer b = buf.attr("_ba");
  py::buffer_info info = b.request(true);
  return {static_cast<std::byte*>(info.ptr), size_t(info.size)};
}

// A chunk callback's arguments: (memoryview of the chunk, offset, status).
py::tuple chunk_args(std::span<const std::byte> sub, uint64_t off, unsigned status) {
  auto* data = const_cast<std::byte*>(sub.data());
  return py::make_tuple(py::memoryview::from_memory(data, Py_ssize_t(sub.size()), true), off, status);
}

// A read's result is a bytearray, as python3-libnbd's.
py::object read_bytes(Handle& h, uint64_t count, uint64_t offset, uint32_t flags, const py::object* chunk) {
  PyObject* o = PyByteArray_FromStringAndSize(nullptr, Py_ssize_t(count));
  if (!o) throw py::error_already_set();
  py::object out = py::reinterpret_steal<py::object>(o);
  std::span<std::byte> buf(reinterpret_cast<std::byte*>(PyByteArray_AS_STRING(o)), count);
  if (!chunk) {
    nogil([&] { return h.pread(buf, offset, flags); });
    return out;
  }
  const py::object& fn = *chunk;
  nbd::client::ChunkCallback cb = [&](std::span<const std::byte> sub, uint64_t off, unsigned status,
                                      int* error) {
    return call_back(fn, error, [&] { return chunk_args(sub, off, status); });
  };
  nogil([&] { return h.pread_structured(buf, offset, cb, flags); });
  return out;
}

// An extent callback's arguments: (context, offset, [length, flags, ...]).
nbd::client::Extent32Callback extent_callback(const py::object& fn) {
  return [fn](std::string_view ctx, uint64_t off, std::span<const uint32_t> entries, int* error) {
    return call_back(fn, error, [&] {
      py::list l;
      for (uint32_t e : entries) l.append(e);
      return py::make_tuple(std::string(ctx), off, l);
    });
  };
}

std::vector<std::string> argv_of(const py::object& o) { return o.cast<std::vector<std::string>>(); }

}  // namespace

PYBIND11_MODULE(_nbd, m) {
  m.doc() = "nbdkit++'s NBD client library (use the nbd module)";
  static py::exception<std::runtime_error> error(m, "Error");
  g_error = error.ptr();

  py::class_<Handle> c(m, "NBD");
  c.def(py::init<>());
  c.def("get_version", [](Handle&) { return std::string(nbd::client::version()); });
  c.def("get_package_name", [](Handle&) { return std::string("nbdkit++"); });
  c.def("supports_tls", [](Handle&) { return true; });  // gnutls is loaded when TLS is used
  c.def("supports_uri", [](Handle&) { return true; });
  c.def("connection_state", [](Handle& h) { return std::string(h.state_name()); });
  c.def("close", [](Handle& h) { (void)h.shutdown(nbd::client::kShutdownAbandonPending); });

  // ---- settings ----
  c.def("set_debug", &Handle::set_debug);
  c.def("get_debug", &Handle::get_debug);
  c.def("set_handle_name", &Handle::set_handle_name);
  c.def("get_handle_name", &Handle::get_handle_name);
  c.def("set_export_name", [](Handle& h, std::string n) { check(h.set_export_name(std::move(n))); });
  c.def("get_export_name", &Handle::get_export_name);
  c.def("set_tls", [](Handle& h, int t) { check(h.set_tls(nbd::client::TlsMode(t))); });
  c.def("get_tls", [](Handle& h) { return int(h.get_tls()); });
  c.def("set_tls_certificates",
        [](Handle& h, std::string d) { check(h.set_tls_certificates(std::move(d))); });
  c.def("set_tls_verify_peer", [](Handle& h, bool v) { check(h.set_tls_verify_peer(v)); });
  c.def("set_tls_username", [](Handle& h, std::string u) { check(h.set_tls_username(std::move(u))); });
  c.def("set_tls_psk_file", [](Handle& h, std::string f) { check(h.set_tls_psk_file(std::move(f))); });
  c.def("set_request_structured_replies",
        [](Handle& h, bool v) { check(h.set_request_structured_replies(v)); });
  c.def("get_request_structured_replies", &Handle::get_request_structured_replies);
  c.def("set_request_extended_headers", [](Handle& h, bool v) { check(h.set_request_extended_headers(v)); });
  c.def("get_request_extended_headers", &Handle::get_request_extended_headers);
  c.def("set_request_meta_context", [](Handle& h, bool v) { check(h.set_request_meta_context(v)); });
  c.def("set_request_block_size", [](Handle& h, bool v) { check(h.set_request_block_size(v)); });
  c.def("set_full_info", [](Handle& h, bool v) { check(h.set_full_info(v)); });
  c.def("get_full_info", &Handle::get_full_info);
  c.def("set_handshake_flags", [](Handle& h, uint32_t f) { check(h.set_handshake_flags(f)); });
  c.def("get_handshake_flags", &Handle::get_handshake_flags);
  c.def("set_strict_mode", &Handle::set_strict_mode);
  c.def("get_strict_mode", &Handle::get_strict_mode);
  c.def("set_pread_initialize", &Handle::set_pread_initialize);
  c.def("set_opt_mode", [](Handle& h, bool v) { check(h.set_opt_mode(v)); });
  c.def("get_opt_mode", &Handle::get_opt_mode);
  c.def("add_meta_context", [](Handle& h, std::string n) { check(h.add_meta_context(std::move(n))); });
  c.def("get_nr_meta_contexts", &Handle::get_nr_meta_contexts);
  c.def("get_meta_context", [](Handle& h, size_t i) { return check(h.get_meta_context(i)); });
  c.def("clear_meta_contexts", [](Handle& h) { check(h.clear_meta_contexts()); });
  c.def("set_uri_allow_local_file", &Handle::set_uri_allow_local_file);
  c.def("set_uri_allow_tls", [](Handle& h, int t) { check(h.set_uri_allow_tls(nbd::client::TlsMode(t))); });
  c.def("set_uri_allow_transports",
        [](Handle& h, uint32_t mask) { check(h.set_uri_allow_transports(mask)); });
  c.def("get_tls_username", &Handle::get_tls_username);
  c.def("get_tls_verify_peer", &Handle::get_tls_verify_peer);
  c.def("get_request_block_size", &Handle::get_request_block_size);
  c.def("get_request_meta_context", &Handle::get_request_meta_context);
  c.def("get_pread_initialize", &Handle::get_pread_initialize);
  c.def(
      "kill_subprocess", [](Handle& h, int sig) { check(h.kill_subprocess(sig)); }, py::arg("signum") = 0);
  // fn(context, msg) for each debug line while debug is on. The function object is held in a
  // shared pointer released under the GIL: the client copies and drops its callback anywhere.
  c.def("set_debug_callback", [](Handle& h, py::object fn) {
    std::shared_ptr<py::object> held(new py::object(std::move(fn)), [](py::object* o) {
      py::gil_scoped_acquire gil;
      delete o;
    });
    h.set_debug_callback([held](const char* ctx, const char* msg) {
      return notify(*held, std::string(ctx), std::string(msg));
    });
  });
  c.def("clear_debug_callback", &Handle::clear_debug_callback);

  // ---- connecting ----
  c.def("connect_uri", [](Handle& h, std::string u) { nogil([&] { return h.connect_uri(u); }); });
  c.def("connect_unix", [](Handle& h, std::string p) { nogil([&] { return h.connect_unix(p); }); });
  c.def("connect_tcp", [](Handle& h, std::string host, std::string port) {
    nogil([&] { return h.connect_tcp(host, port); });
  });
  c.def("connect_vsock",
        [](Handle& h, uint32_t cid, uint32_t port) { nogil([&] { return h.connect_vsock(cid, port); }); });
  c.def("connect_socket", [](Handle& h, int fd) { nogil([&] { return h.connect_socket(fd); }); });
  c.def("connect_command", [](Handle& h, py::object argv) {
    auto a = argv_of(argv);
    nogil([&] { return h.connect_command(a); });
  });
  c.def("connect_systemd_socket_activation", [](Handle& h, py::object argv) {
    auto a = argv_of(argv);
    nogil([&] { return h.connect_systemd_socket_activation(a); });
  });
  c.def("aio_connect_uri", [](Handle& h, std::string u) { check(h.aio_connect_uri(u)); });
  c.def("aio_connect_unix", [](Handle& h, std::string p) { check(h.aio_connect_unix(p)); });
  c.def("aio_connect_socket", [](Handle& h, int fd) { check(h.aio_connect_socket(fd)); });
  c.def("aio_connect_vsock",
        [](Handle& h, uint32_t cid, uint32_t port) { check(h.aio_connect_vsock(cid, port)); });
  c.def("aio_connect_tcp",
        [](Handle& h, std::string host, std::string port) { check(h.aio_connect_tcp(host, port)); });
  c.def("aio_connect_command",
        [](Handle& h, py::object argv) { check(h.aio_connect_command(argv_of(argv))); });
  c.def("aio_connect_systemd_socket_activation",
        [](Handle& h, py::object argv) { check(h.aio_connect_systemd_socket_activation(argv_of(argv))); });

  // ---- option negotiation ----
  c.def("opt_go", [](Handle& h) { nogil([&] { return h.opt_go(); }); });
  c.def("opt_abort", [](Handle& h) { nogil([&] { return h.opt_abort(); }); });
  c.def("opt_info", [](Handle& h) { nogil([&] { return h.opt_info(); }); });
  c.def("opt_list", [](Handle& h, py::object fn) {
    nbd::client::ListCallback cb = [&fn](std::string_view n, std::string_view d) {
      return notify(fn, std::string(n), std::string(d));
    };
    return nogil([&] { return h.opt_list(cb); });
  });
  auto contexts = [](Handle& h, py::object fn, bool set) {
    nbd::client::ContextCallback cb = [&fn](std::string_view n) { return notify(fn, std::string(n)); };
    return nogil([&] { return set ? h.opt_set_meta_context(cb) : h.opt_list_meta_context(cb); });
  };
  c.def("opt_list_meta_context", [contexts](Handle& h, py::object fn) { return contexts(h, fn, false); });
  c.def("opt_set_meta_context", [contexts](Handle& h, py::object fn) { return contexts(h, fn, true); });
  // The aio options: completion(error) when the option's replies are in; the list callbacks
  // are kept (in the Pending) until then.
  c.def(
      "aio_opt_go",
      [](Handle& h, py::object completion) {
        start_option(new Pending{py::none(), py::none(), completion},
                     [&](auto done, Pending*) { return h.aio_opt_go(std::move(done)); });
      },
      py::arg("completion") = py::none());
  c.def(
      "aio_opt_info",
      [](Handle& h, py::object completion) {
        start_option(new Pending{py::none(), py::none(), completion},
                     [&](auto done, Pending*) { return h.aio_opt_info(std::move(done)); });
      },
      py::arg("completion") = py::none());
  c.def("aio_opt_abort", [](Handle& h) { check(h.aio_opt_abort()); });
  c.def(
      "aio_opt_list",
      [](Handle& h, py::object list, py::object completion) {
        start_option(new Pending{py::none(), list, completion}, [&](auto done, Pending* p) {
          return h.aio_opt_list(
              [p](std::string_view n, std::string_view d) {
                return notify(p->extra, std::string(n), std::string(d));
              },
              std::move(done));
        });
      },
      py::arg("list"), py::arg("completion") = py::none());
  c.def(
      "aio_opt_list_meta_context",
      [](Handle& h, py::object context, py::object completion) {
        start_option(new Pending{py::none(), context, completion}, [&](auto done, Pending* p) {
          return h.aio_opt_list_meta_context(
              [p](std::string_view n) { return notify(p->extra, std::string(n)); }, std::move(done));
        });
      },
      py::arg("context"), py::arg("completion") = py::none());
  c.def("opt_structured_reply", [](Handle& h) { return nogil([&] { return h.opt_structured_reply(); }); });
  c.def("opt_extended_headers", [](Handle& h) { return nogil([&] { return h.opt_extended_headers(); }); });
  c.def("opt_starttls", [](Handle& h) { return nogil([&] { return h.opt_starttls(); }); });

  // ---- export info ----
  c.def("get_size", [](Handle& h) { return check(h.get_size()); });
  c.def("get_block_size",
        [](Handle& h, int k) { return check(h.get_block_size(nbd::client::BlockSizeKind(k))); });
#define NBD_PY_BOOL(name) c.def(#name, [](Handle& h) { return check(h.name()); })
  NBD_PY_BOOL(is_read_only);
  NBD_PY_BOOL(is_rotational);
  NBD_PY_BOOL(can_flush);
  NBD_PY_BOOL(can_fua);
  NBD_PY_BOOL(can_trim);
  NBD_PY_BOOL(can_zero);
  NBD_PY_BOOL(can_fast_zero);
  NBD_PY_BOOL(can_df);
  NBD_PY_BOOL(can_multi_conn);
  NBD_PY_BOOL(can_cache);
  NBD_PY_BOOL(get_structured_replies_negotiated);
  NBD_PY_BOOL(get_extended_headers_negotiated);
  NBD_PY_BOOL(get_tls_negotiated);
#undef NBD_PY_BOOL
  c.def("can_meta_context", [](Handle& h, std::string n) { return check(h.can_meta_context(n)); });
  c.def("get_canonical_export_name", [](Handle& h) { return check(h.get_canonical_export_name()); });
  c.def("get_export_description", [](Handle& h) { return check(h.get_export_description()); });
  c.def("get_protocol", [](Handle& h) { return check(h.get_protocol()); });
  c.def("get_uri", [](Handle& h) { return check(h.get_uri()); });

  // ---- blocking commands ----
  c.def(
      "pread",
      [](Handle& h, uint64_t n, uint64_t off, uint32_t f) { return read_bytes(h, n, off, f, nullptr); },
      py::arg("count"), py::arg("offset"), py::arg("flags") = 0);
  c.def(
      "pread_structured",
      [](Handle& h, uint64_t n, uint64_t off, py::object chunk, uint32_t f) {
        return read_bytes(h, n, off, f, &chunk);
      },
      py::arg("count"), py::arg("offset"), py::arg("chunk"), py::arg("flags") = 0);
  c.def(
      "pwrite",
      [](Handle& h, py::buffer buf, uint64_t off, uint32_t f) {
        py::buffer_info info = buf.request();
        std::span<const std::byte> b(static_cast<const std::byte*>(info.ptr),
                                     size_t(info.size * info.itemsize));
        nogil([&] { return h.pwrite(b, off, f); });
      },
      py::arg("buf"), py::arg("offset"), py::arg("flags") = 0);
  c.def(
      "flush", [](Handle& h, uint32_t f) { nogil([&] { return h.flush(f); }); }, py::arg("flags") = 0);
#define NBD_PY_RANGE(name)                                                                               \
  c.def(                                                                                                 \
      #name,                                                                                             \
      [](Handle& h, uint64_t n, uint64_t off, uint32_t f) { nogil([&] { return h.name(n, off, f); }); }, \
      py::arg("count"), py::arg("offset"), py::arg("flags") = 0)
  NBD_PY_RANGE(trim);
  NBD_PY_RANGE(cache);
  NBD_PY_RANGE(zero);
#undef NBD_PY_RANGE
  c.def(
      "block_status",
      [](Handle& h, uint64_t n, uint64_t off, py::object extent, uint32_t f) {
        auto cb = extent_callback(extent);
        nogil([&] { return h.block_status(n, off, cb, f); });
      },
      py::arg("count"), py::arg("offset"), py::arg("extent"), py::arg("flags") = 0);
  c.def(
      "shutdown", [](Handle& h, uint32_t f) { nogil([&] { return h.shutdown(f); }); }, py::arg("flags") = 0);

  // ---- asynchronous commands ----
  c.def(
      "aio_pread",
      [](Handle& h, py::object buf, uint64_t off, py::object completion, uint32_t f) {
        return submit(new Pending{buf, py::none(), completion},
                      [&](auto done) { return h.aio_pread(buffer_bytes(buf), off, done, f); });
      },
      py::arg("buf"), py::arg("offset"), py::arg("completion") = py::none(), py::arg("flags") = 0);
  c.def(
      "aio_pread_structured",
      [](Handle& h, py::object buf, uint64_t off, py::object chunk, py::object completion, uint32_t f) {
        auto* p = new Pending{buf, chunk, completion};
        nbd::client::ChunkCallback cb = [p](std::span<const std::byte> sub, uint64_t o, unsigned st,
                                            int* err) {
          return call_back(p->extra, err, [&] { return chunk_args(sub, o, st); });
        };
        return submit(p,
                      [&](auto done) { return h.aio_pread_structured(buffer_bytes(buf), off, cb, done, f); });
      },
      py::arg("buf"), py::arg("offset"), py::arg("chunk"), py::arg("completion") = py::none(),
      py::arg("flags") = 0);
  c.def(
      "aio_pwrite",
      [](Handle& h, py::object buf, uint64_t off, py::object completion, uint32_t f) {
        return submit(new Pending{buf, py::none(), completion},
                      [&](auto done) { return h.aio_pwrite(buffer_bytes(buf), off, done, f); });
      },
      py::arg("buf"), py::arg("offset"), py::arg("completion") = py::none(), py::arg("flags") = 0);
  c.def(
      "aio_flush",
      [](Handle& h, py::object completion, uint32_t f) {
        return submit(new Pending{py::none(), py::none(), completion},
                      [&](auto done) { return h.aio_flush(done, f); });
      },
      py::arg("completion") = py::none(), py::arg("flags") = 0);
#define NBD_PY_AIO_RANGE(name)                                                     \
  c.def(                                                                           \
      "aio_" #name,                                                                \
      [](Handle& h, uint64_t n, uint64_t off, py::object completion, uint32_t f) { \
        return submit(new Pending{py::none(), py::none(), completion},             \
                      [&](auto done) { return h.aio_##name(n, off, done, f); });   \
      },                                                                           \
      py::arg("count"), py::arg("offset"), py::arg("completion") = py::none(), py::arg("flags") = 0)
  NBD_PY_AIO_RANGE(trim);
  NBD_PY_AIO_RANGE(cache);
  NBD_PY_AIO_RANGE(zero);
#undef NBD_PY_AIO_RANGE
  c.def(
      "aio_block_status",
      [](Handle& h, uint64_t n, uint64_t off, py::object extent, py::object completion, uint32_t f) {
        return submit(new Pending{py::none(), extent, completion}, [&](auto done) {
          return h.aio_block_status(n, off, extent_callback(extent), done, f);
        });
      },
      py::arg("count"), py::arg("offset"), py::arg("extent"), py::arg("completion") = py::none(),
      py::arg("flags") = 0);
  c.def(
      "aio_disconnect", [](Handle& h, uint32_t f) { check(h.aio_disconnect(f)); }, py::arg("flags") = 0);
  c.def("aio_command_completed", [](Handle& h, Cookie k) { return check(h.aio_command_completed(k)); });
  c.def("aio_peek_command_completed", &Handle::aio_peek_command_completed);
  c.def("aio_in_flight", &Handle::aio_in_flight);
  c.def("poll", [](Handle& h, int timeout) { return nogil([&] { return h.poll(timeout); }); });
  c.def("aio_get_fd", &Handle::aio_get_fd);
  c.def("aio_get_direction", &Handle::aio_get_direction);
  c.def("aio_notify_read", [](Handle& h) { check(h.aio_notify_read()); });
  c.def("aio_notify_write", [](Handle& h) { check(h.aio_notify_write()); });
  c.def("aio_is_created", &Handle::aio_is_created);
  c.def("aio_is_connecting", &Handle::aio_is_connecting);
  c.def("aio_is_negotiating", &Handle::aio_is_negotiating);
  c.def("aio_is_ready", &Handle::aio_is_ready);
  c.def("aio_is_processing", &Handle::aio_is_processing);
  c.def("aio_is_dead", &Handle::aio_is_dead);
  c.def("aio_is_closed", &Handle::aio_is_closed);
}
