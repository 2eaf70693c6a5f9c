// SPDX-License-Identifier: BSD-3-Clause
// The python plugin: `nbdkit python script.py [KEY=VALUE ...]` runs a plugin written in Python
// with upstream's Python plugin API (nbdkit-python-plugin(3)): the script's top-level
// functions are the callbacks, API_VERSION 1 or 2, an `nbdkit` module with debug, set_error,
// export_name, parse_size, shutdown, disconnect and the constants. Built as a loadable plugin
// (build/lib/nbdkit/plugins/nbdkit-python-plugin.so, found by name), so nbdkit itself does not
// load libpython. Every call takes the GIL; the thread model is the script's
// (default serialize_all_requests, as upstream).
#include <pybind11/embed.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "nbd/log.h"
#include "nbd/parse.h"
#include "nbd/plugin.h"

namespace py = pybind11;

namespace nbd::plugins {
namespace {

thread_local int t_error = 0;                        // nbdkit.set_error, for the call in progress
thread_local const std::string* t_export = nullptr;  // nbdkit.export_name() during a call
thread_local bool t_is_tls = false;                  // nbdkit.is_tls() during a call

// A Python exception's message without the traceback lines after it.
std::string first_line(std::string s) {
  if (size_t nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// Runs f under the GIL with the error slot cleared; a Python exception becomes an Error with
// the set_error errno (EIO by default), its message the exception's, and its traceback on stderr
// with -v.
template <class F>
auto in_python(const char* what, F&& f) -> Result<decltype(f())> {
  py::gil_scoped_acquire gil;
  t_error = 0;
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return ok();
    } else {
      return f();
    }
  } catch (py::error_already_set& e) {
    return make_error(t_error ? t_error : EIO, std::string(what) + ": " + first_line(e.what()));
  } catch (py::cast_error& e) {
    return make_error(EINVAL, std::string(what) + ": the script returned the wrong type (" + e.what() + ")");
  }
}

struct Script {
  py::object main;  // the __main__ module's dict
  int api = 1;
  bool has(const char* name) const {
    if (!main) return false;  // no script loaded (nbdkit python --dump-plugin)
    py::gil_scoped_acquire gil;
    return main.contains(name) && !main[name].is_none();
  }
  py::object fn(const char* name) const { return main[name]; }
};

class PyConnection final : public Connection {
 public:
  PyConnection(const Script& s, py::object h, std::string export_name, bool is_tls)
      : s_(s), h_(std::move(h)), export_(std::move(export_name)), is_tls_(is_tls) {}
  ~PyConnection() override {
    py::gil_scoped_acquire gil;
    t_export = &export_;
    try {
      if (s_.has("close")) s_.fn("close")(h_);
    } catch (py::error_already_set& e) {
      log::error("close: %s", e.what());
    }
    h_ = py::object();
    t_export = nullptr;
  }

  Result<uint64_t> get_size() override {
    return call<uint64_t>("get_size", [&] { return s_.fn("get_size")(h_).cast<uint64_t>(); });
  }
  Result<BlockSize> block_size() override {
    if (!s_.has("block_size")) return BlockSize{};
    return call<BlockSize>("block_size", [&] {
      auto t = s_.fn("block_size")(h_).cast<std::tuple<uint32_t, uint32_t, uint32_t>>();
      return BlockSize{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
    });
  }
  Result<bool> can_write() override { return flag("can_write", s_.has("pwrite")); }
  Result<bool> can_flush() override { return flag("can_flush", s_.has("flush")); }
  Result<bool> is_rotational() override { return flag("is_rotational", false); }
  Result<bool> can_trim() override { return flag("can_trim", s_.has("trim")); }
  Result<ZeroMode> can_zero() override {
    if (!s_.has("can_zero")) return s_.has("zero") ? ZeroMode::Native : ZeroMode::Emulate;
    NBD_TRY_ASSIGN(bool z, flag("can_zero", false));
    // can_zero false still lets the core emulate, as upstream's; true means the script's zero.
    return z && s_.has("zero") ? ZeroMode::Native : z ? ZeroMode::Emulate : ZeroMode::None;
  }
  Result<bool> can_fast_zero() override {
    if (!s_.has("can_fast_zero")) return Connection::can_fast_zero();
    return flag("can_fast_zero", false);
  }
  Result<bool> can_extents() override { return flag("can_extents", s_.has("extents")); }
  Result<bool> can_multi_conn() override { return flag("can_multi_conn", false); }
  Result<FuaMode> can_fua() override {
    if (!s_.has("can_fua")) return s_.has("flush") ? FuaMode::Emulate : FuaMode::None;
    NBD_TRY_ASSIGN(int v, call<int>("can_fua", [&] { return s_.fn("can_fua")(h_).cast<int>(); }));
    return v <= 0 ? FuaMode::None : v == 1 ? FuaMode::Emulate : FuaMode::Native;
  }
  Result<CacheMode> can_cache() override {
    if (!s_.has("can_cache")) return s_.has("cache") ? CacheMode::Native : CacheMode::None;
    NBD_TRY_ASSIGN(int v, call<int>("can_cache", [&] { return s_.fn("can_cache")(h_).cast<int>(); }));
    return v <= 0 ? CacheMode::None : v == 1 ? CacheMode::Emulate : CacheMode::Native;
  }
  Result<std::string> export_description() override {
    if (!s_.has("export_description")) return std::string();
    return call<std::string>("export_description",
                             [&] { return s_.fn("export_description")(h_).cast<std::string>(); });
  }

  Status pread(std::span<std::byte> buf, uint64_t offset, uint32_t flags) override {
    return call<void>("pread", [&] {
      if (s_.api >= 2) {
        py::memoryview mv = py::memoryview::from_memory(buf.data(), py::ssize_t(buf.size()), false);
        s_.fn("pread")(h_, mv, offset, flags);
        mv.attr("release")();
        return;
      }
      py::object r = s_.fn("pread")(h_, buf.size(), offset);
      py::buffer_info b = py::buffer(r).request();
      if (size_t(b.size * b.itemsize) != buf.size()) {
        t_error = EIO;
        throw py::value_error("pread returned " + std::to_string(b.size * b.itemsize) + " bytes, expected " +
                              std::to_string(buf.size()));
      }
      std::memcpy(buf.data(), b.ptr, buf.size());
    });
  }
  Status pwrite(std::span<const std::byte> buf, uint64_t offset, uint32_t flags) override {
    return call<void>("pwrite", [&] {
      py::memoryview mv =
          py::memoryview::from_memory(const_cast<std::byte*>(buf.data()), py::ssize_t(buf.size()), true);
      if (s_.api >= 2)
        s_.fn("pwrite")(h_, mv, offset, flags);
      else
        s_.fn("pwrite")(h_, mv, offset);
      mv.attr("release")();
    });
  }
  Status flush(uint32_t flags) override {
    return call<void>("flush", [&] { s_.api >= 2 ? s_.fn("flush")(h_, flags) : s_.fn("flush")(h_); });
  }
  Status trim(uint64_t count, uint64_t offset, uint32_t flags) override {
    return call<void>("trim", [&] {
      s_.api >= 2 ? s_.fn("trim")(h_, count, offset, flags) : s_.fn("trim")(h_, count, offset);
    });
  }
  Status zero(uint64_t count, uint64_t offset, uint32_t flags) override {
    return call<void>("zero", [&] {
      if (s_.api >= 2)
        s_.fn("zero")(h_, count, offset, flags);
      else
        s_.fn("zero")(h_, count, offset, (flags & kMayTrim) != 0);
    });
  }
  Status cache(uint64_t count, uint64_t offset, uint32_t flags) override {
    return call<void>("cache", [&] { s_.fn("cache")(h_, count, offset, flags); });
  }
  Status extents(uint64_t count, uint64_t offset, uint32_t flags, ExtentList& out) override {
    Status added = ok();
    NBD_TRY(call<void>("extents", [&] {
      py::object r = s_.fn("extents")(h_, count, offset, flags);
      for (py::handle e : r) {
        auto t = e.cast<std::tuple<uint64_t, uint64_t, uint64_t>>();
        if (added) added = out.add(std::get<0>(t), std::get<1>(t), std::get<2>(t));
      }
    }));
    return added;
  }

 private:
  template <class T, class F>
  Result<T> call(const char* what, F&& f) {
    t_export = &export_;
    t_is_tls = is_tls_;
    auto r = in_python(what, std::forward<F>(f));
    t_export = nullptr;
    t_is_tls = false;
    return r;
  }
  Result<bool> flag(const char* name, bool absent) {
    if (!s_.has(name)) return absent;
    return call<bool>(name, [&] { return py::bool_(s_.fn(name)(h_)).cast<bool>(); });
  }

  const Script& s_;
  py::object h_;
  std::string export_;
  bool is_tls_;
};

class PythonPlugin final : public Plugin {
 public:
  ~PythonPlugin() override {
    // The interpreter stays until the process exits: finalizing it could wait for threads the
    // script started.
    if (saved_) {
      PyEval_RestoreThread(saved_);
      s_.main = py::object();
      saved_ = PyEval_SaveThread();
    }
  }

  Status config(std::string_view key, std::string_view value) override {
    if (key == "script") {
      if (!path_.empty()) return make_error(EINVAL, "script= given twice");
      return load(std::string(value));
    }
    if (path_.empty())
      return make_error(EINVAL, "the script must come first (nbdkit python script.py KEY=VALUE ...)");
    if (!s_.has("config"))
      return make_error(
          EINVAL, std::string(key) + "=" + std::string(value) + ": the script has no config() function");
    return in_python("config", [&] { s_.fn("config")(std::string(key), std::string(value)); });
  }
  Status config_complete() override {
    if (path_.empty()) return make_error(EINVAL, "no script given (nbdkit python script.py)");
    for (const char* f : {"open", "get_size", "pread"})
      if (!s_.has(f))
        return make_error(EINVAL, path_ + ": the script has no " + f + "() function (it is required)");
    if (s_.has("config_complete")) NBD_TRY(in_python("config_complete", [&] { s_.fn("config_complete")(); }));
    return ok();
  }
  ThreadModel thread_model() override {
    if (!s_.has("thread_model")) return ThreadModel::SerializeAllRequests;
    auto r = in_python("thread_model", [&] { return s_.fn("thread_model")().cast<int>(); });
    if (!r || *r < 0 || *r > 3) return ThreadModel::SerializeAllRequests;
    return ThreadModel(*r);
  }
  Status get_ready() override {
    pid_ = getpid();
    if (s_.has("get_ready")) NBD_TRY(in_python("get_ready", [&] { s_.fn("get_ready")(); }));
    return ok();
  }
  Status after_fork() override {
    if (saved_ && getpid() != pid_) {
      // The server went into the background: Python must learn it is a new process.
      PyEval_RestoreThread(saved_);
      PyOS_AfterFork_Child();
      saved_ = PyEval_SaveThread();
    }
    if (s_.has("after_fork")) NBD_TRY(in_python("after_fork", [&] { s_.fn("after_fork")(); }));
    return ok();
  }
  Status preconnect(const Peer&, bool readonly) override {
    if (!s_.has("preconnect")) return ok();
    return in_python("preconnect", [&] { s_.fn("preconnect")(readonly); });
  }
  Result<std::vector<ExportInfo>> list_exports(bool readonly, bool is_tls) override {
    if (!s_.has("list_exports")) return Plugin::list_exports(readonly, is_tls);
    return in_python("list_exports", [&] {
      std::vector<ExportInfo> out;
      for (py::handle e : s_.fn("list_exports")(readonly, is_tls)) {
        if (py::isinstance<py::str>(e))
          out.push_back({e.cast<std::string>(), ""});
        else {
          auto t = e.cast<std::tuple<std::string, std::string>>();
          out.push_back({std::get<0>(t), std::get<1>(t)});
        }
      }
      return out;
    });
  }
  Result<std::string> default_export(bool readonly, bool is_tls) override {
    if (!s_.has("default_export")) return std::string();
    return in_python("default_export",
                     [&] { return s_.fn("default_export")(readonly, is_tls).cast<std::string>(); });
  }
  Result<std::unique_ptr<Connection>> open(const OpenParams& p) override {
    t_export = &p.export_name;
    t_is_tls = p.is_tls;
    auto h = in_python("open", [&] { return s_.fn("open")(p.readonly); });
    t_export = nullptr;
    t_is_tls = false;
    if (!h) return std::move(h).error();
    std::unique_ptr<Connection> c =
        std::make_unique<PyConnection>(s_, std::move(*h), p.export_name, p.is_tls);
    return c;
  }
  std::vector<std::string> dump_plugin() override {
    std::vector<std::string> out = {
        "python_version=" + std::string(Py_GetVersion()).substr(0, std::string(Py_GetVersion()).find(' ')),
        "python_pep_384_abi_version=3", "nbdkit_python_maximum_api_version=2"};
    if (s_.has("dump_plugin")) {
      fflush(stdout);
      (void)in_python("dump_plugin", [&] {
        s_.fn("dump_plugin")();
        py::module_::import("sys").attr("stdout").attr("flush")();
      });
    }
    return out;
  }
  void unload() override {
    if (s_.has("cleanup")) (void)in_python("cleanup", [&] { s_.fn("cleanup")(); });
  }

 private:
  Status load(std::string path) {
    if (access(path.c_str(), R_OK) != 0)
      return make_error(errno, "script=" + path + ": " + std::string(strerror(errno)));
    path_ = path;
    py::initialize_interpreter(true, 0, nullptr, false);
    Status s = ok();
    try {
      py::module_ sys = py::module_::import("sys");
      sys.attr("argv") = py::make_tuple(path);
      std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
      sys.attr("path").attr("insert")(0, dir);
      s_.main = py::module_::import("__main__").attr("__dict__");
      py::eval_file(path, s_.main);
      if (s_.main.contains("API_VERSION")) s_.api = s_.main["API_VERSION"].cast<int>();
      if (s_.api < 1 || s_.api > 2)
        s = make_error(EINVAL, path + ": API_VERSION " + std::to_string(s_.api) + " is not 1 or 2");
    } catch (py::error_already_set& e) {
      s = make_error(EINVAL, path + ": " + first_line(e.what()));
    }
    saved_ = PyEval_SaveThread();  // from here every call takes the GIL itself
    return s;
  }

  std::string path_;
  Script s_;
  PyThreadState* saved_ = nullptr;
  pid_t pid_ = 0;
};

constexpr ParamHelp kParams[] = {
    {"script", "[script=]SCRIPT.py  The Python plugin to run (required; first)."},
    {"KEY", "KEY=VALUE  Passed to the script's config(key, value)."},
};

}  // namespace

// The nbdkit module scripts import.
PYBIND11_EMBEDDED_MODULE(nbdkit, m) {
  m.def("debug", [](const std::string& msg) { log::debug("%s", msg.c_str()); });
  m.def("set_error", [](int err) { t_error = err; });
  m.def("export_name", [] { return t_export ? *t_export : std::string(); });
  m.def("is_tls", [] { return t_is_tls; });
  m.def("parse_size", [](const std::string& s) {
    auto r = parse_size("parse_size", s);
    if (!r) throw py::value_error(r.error().message);
    return *r;
  });
  m.def("shutdown", [] { shutdown_server(); });
  m.def("disconnect", [](bool force) { disconnect_client(force); });
  m.attr("THREAD_MODEL_SERIALIZE_CONNECTIONS") = 0;
  m.attr("THREAD_MODEL_SERIALIZE_ALL_REQUESTS") = 1;
  m.attr("THREAD_MODEL_SERIALIZE_REQUESTS") = 2;
  m.attr("THREAD_MODEL_PARALLEL") = 3;
  m.attr("FLAG_MAY_TRIM") = kMayTrim;
  m.attr("FLAG_FUA") = kFua;
  m.attr("FLAG_REQ_ONE") = kReqOne;
  m.attr("FLAG_FAST_ZERO") = kFastZero;
  m.attr("FUA_NONE") = 0;
  m.attr("FUA_EMULATE") = 1;
  m.attr("FUA_NATIVE") = 2;
  m.attr("CACHE_NONE") = 0;
  m.attr("CACHE_EMULATE") = 1;
  m.attr("CACHE_NATIVE") = 2;
  m.attr("EXTENT_HOLE") = kExtentHole;
  m.attr("EXTENT_ZERO") = kExtentZero;
}

const PluginInfo python_plugin_info{
    .name = "python",
    .description = "nbdkit python plugin: plugins written in Python (upstream's API)",
    .magic_config_key = "script",
    .params = kParams,
    .factory = [] { return std::unique_ptr<Plugin>(new PythonPlugin()); },
};

}  // namespace nbd::plugins

NBD_EXPORT_PLUGIN(nbd::plugins::python_plugin_info)
