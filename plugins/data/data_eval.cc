// SPDX-License-Identifier: BSD-3-Clause
// Evaluation of the data language: groups place their items at a moving offset (later items
// overwrite earlier ones, zeroes included), names live in nested scopes, and slices tell
// files and scripts how many bytes they need so "</dev/urandom[:512]" reads only 512.
#include "data_eval.h"

#include <map>
#include <memory>

#include "data_parser.h"
#include "data_source.h"

namespace nbd::data {
namespace {

constexpr int kMaxVarDepth = 100;
constexpr uint64_t kNoLimit = UINT64_MAX;

struct Scope {
  const Scope* parent = nullptr;
  std::map<std::string, std::shared_ptr<const Image>, std::less<>> names;

  const Image* find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->names.find(name);
      if (it != s->names.end()) return it->second.get();
    }
    return nullptr;
  }
};

uint64_t add_saturating(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

class Evaluator {
 public:
  Evaluator(std::string_view source, const VarLookup& vars) : source_(source), vars_(vars) {}

  Result<Image> group(const Node& g, const Scope* parent) {
    Scope scope{parent, {}};
    Image img;
    uint64_t off = 0;
    for (const auto& child : g.children) {
      const Node& n = *child;
      if (n.kind == NodeKind::Offset) {
        NBD_TRY_ASSIGN(off, move_offset(n, off));
        img.extend(off);
      } else if (n.kind == NodeKind::Assign) {
        NBD_TRY_ASSIGN(Image v, eval(*n.children[0], scope, kNoLimit));
        scope.names[n.text] = std::make_shared<const Image>(std::move(v));
      } else {
        NBD_TRY_ASSIGN(Image v, eval(n, scope, kNoLimit));
        if (v.size() > Image::kMaxSize - off) return error(n, "the data would be larger than 2^63-1 bytes");
        img.paint(off, v);
        off += v.size();
      }
    }
    return img;
  }

 private:
  std::string source_;
  const VarLookup& vars_;
  int var_depth_ = 0;

  Error error(const Node& n, const std::string& what) const {
    return make_error(EINVAL, source_ + ": offset " + std::to_string(n.pos) + ": " + what);
  }

  Result<uint64_t> move_offset(const Node& n, uint64_t off) const {
    uint64_t v = n.n;
    switch (n.offset_mode) {
      case OffsetMode::Absolute: break;
      case OffsetMode::Forward:
        if (n.n > Image::kMaxSize - off) return error(n, "@+" + std::to_string(n.n) + " moves past 2^63-1");
        v = off + n.n;
        break;
      case OffsetMode::Backward:
        if (n.n > off)
          return error(n, "@-" + std::to_string(n.n) + " must not be larger than the current offset " +
                              std::to_string(off));
        v = off - n.n;
        break;
      case OffsetMode::Align:
        v = (off + (n.n - 1)) & ~(n.n - 1);
        if (v < off) return error(n, "@^" + std::to_string(n.n) + " moves past 2^63-1");
        break;
    }
    if (v > Image::kMaxSize) return error(n, "offset " + std::to_string(v) + " is larger than 2^63-1");
    return v;
  }

  // limit: how many leading bytes of the value are needed (files and scripts stop there).
  Result<Image> eval(const Node& n, const Scope& scope, uint64_t limit) {
    switch (n.kind) {
      case NodeKind::Literal:
        return Image::from_bytes(Bytes(reinterpret_cast<const std::byte*>(n.text.data()),
                                       reinterpret_cast<const std::byte*>(n.text.data()) + n.text.size()));
      case NodeKind::Group: return group(n, &scope);
      case NodeKind::File:
      case NodeKind::Script: {
        auto r = n.kind == NodeKind::File ? read_file(n.text, limit) : run_script(n.text, limit);
        if (!r) return error(n, r.error().message);
        return Image::from_bytes(std::move(*r));
      }
      case NodeKind::Name: {
        const Image* v = scope.find(n.text);
        if (!v) return error(n, "\\" + n.text + " is not defined");
        return *v;
      }
      case NodeKind::Var: return variable(n, scope);
      case NodeKind::Repeat: {
        NBD_TRY_ASSIGN(Image unit, eval(*n.children[0], scope, kNoLimit));
        auto r = Image::repeat(unit, n.n);
        if (!r) return error(n, r.error().message);
        return r;
      }
      case NodeKind::Slice: return slice(n, scope, limit);
      case NodeKind::Offset:
      case NodeKind::Assign: break;
    }
    return error(n, "internal error: unexpected expression");
  }

  Result<Image> slice(const Node& n, const Scope& scope, uint64_t limit) {
    const Node& child = *n.children[0];
    uint64_t start = n.has_start ? n.n : 0;
    uint64_t need = add_saturating(start, limit);
    if (n.has_end) need = std::min(need, n.m);
    NBD_TRY_ASSIGN(Image v, eval(child, scope, need));
    uint64_t end = n.has_end ? n.m : v.size();
    // Files and scripts may be endless or shorter than asked: their slices are clipped.
    if (child.kind == NodeKind::File || child.kind == NodeKind::Script) {
      end = std::min(end, v.size());
      start = std::min(start, end);
    }
    if (start > end || end > v.size())
      return error(n, "[" + std::to_string(start) + ":" + std::to_string(end) +
                          "] is not a valid slice of an expression of " + std::to_string(v.size()) +
                          " bytes");
    return v.slice(start, end);
  }

  Result<Image> variable(const Node& n, const Scope& scope) {
    std::optional<std::string> text = vars_ ? vars_(n.text) : std::nullopt;
    if (!text)
      return error(
          n, "$" + n.text + ": variable not found (give " + n.text + "=... or set it in the environment)");
    if (var_depth_ >= kMaxVarDepth)
      return error(n, "$" + n.text + ": variables nested too deeply (recursive?)");
    NBD_TRY_ASSIGN(NodePtr tree, parse(*text, "$" + n.text));
    std::string saved = std::move(source_);
    source_ = "$" + n.text;
    ++var_depth_;
    auto r = group(*tree, &scope);
    --var_depth_;
    source_ = std::move(saved);
    return r;
  }
};

}  // namespace

Result<Image> evaluate(const Node& program, std::string_view source, const VarLookup& vars) {
  Evaluator ev(source, vars);
  return ev.group(program, nullptr);
}

Result<Image> evaluate_string(std::string_view text, std::string_view source, const VarLookup& vars) {
  NBD_TRY_ASSIGN(NodePtr tree, parse(text, source));
  return evaluate(*tree, source, vars);
}

}  // namespace nbd::data
