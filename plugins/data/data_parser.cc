// SPDX-License-Identifier: BSD-3-Clause
// Recursive-descent parser for the data language. One Parser per string; every error names
// the offset in that string and what was expected.
#include "data_parser.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

namespace nbd::data {
namespace {

// Nesting of groups, repeats, slices and assignments: the evaluator (and the tree's destructor)
// recurse on it, so it is bounded well inside a thread's stack, sanitizer builds included.
constexpr uint32_t kMaxHeight = 200;
constexpr const char* kItemExpected =
    "a byte, string, le16:/be16:/le32:/be32:/le64:/be64: word, '@', '(', '<', '\\NAME' or '$VAR'";

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }
bool is_var_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_file_end(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '*' || c == '[' || c == '(' || c == ')';
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : s_(text), source_(source) {}

  Result<NodePtr> program() {
    NBD_TRY_ASSIGN(auto g, group(0, 0));
    return g;
  }

 private:
  std::string_view s_;
  std::string_view source_;
  size_t p_ = 0;

  bool at_end() const { return p_ >= s_.size(); }
  char peek(size_t ahead = 0) const { return p_ + ahead < s_.size() ? s_[p_ + ahead] : '\0'; }

  std::string found() const {
    if (at_end()) return "end of input";
    char c = s_[p_];
    if (c == '\n') return "a newline";
    if (!std::isprint(static_cast<unsigned char>(c)))
      return "byte " + std::to_string(static_cast<unsigned char>(c));
    return std::string("'") + c + "'";
  }
  Error error_at(size_t pos, const std::string& what) const {
    return make_error(EINVAL, std::string(source_) + ": offset " + std::to_string(pos) + ": " + what);
  }
  Error expected(const std::string& what) const {
    return error_at(p_, "expected " + what + ", found " + found());
  }

  void skip_space() {
    while (!at_end()) {
      if (std::isspace(static_cast<unsigned char>(peek()))) {
        ++p_;
      } else if (peek() == '#') {
        while (!at_end() && peek() != '\n') ++p_;
      } else {
        break;
      }
    }
  }

  // A group's items up to ')' (nested) or the end (top level). start is the '(' position.
  Result<NodePtr> group(int depth, size_t start) {
    if (uint32_t(depth) > kMaxHeight) return error_at(start, "groups nested too deeply");
    auto g = std::make_unique<Node>();
    g->kind = NodeKind::Group;
    g->pos = start;
    for (;;) {
      skip_space();
      if (at_end()) {
        if (depth > 0) return error_at(start, "unmatched '(': expected ')' before the end of input");
        return g;
      }
      if (peek() == ')') {
        if (depth == 0) return error_at(p_, "unmatched ')'");
        ++p_;
        return g;
      }
      NBD_TRY_ASSIGN(NodePtr item, expression(depth));
      if (item->height + 1 > kMaxHeight) return error_at(item->pos, "expression nested too deeply");
      g->height = std::max(g->height, item->height + 1);
      auto& kids = g->children;
      if (item->kind == NodeKind::Literal && !kids.empty() && kids.back()->kind == NodeKind::Literal) {
        kids.back()->text += item->text;
      } else {
        kids.push_back(std::move(item));
      }
    }
  }

  Result<NodePtr> expression(int depth) {
    NBD_TRY_ASSIGN(NodePtr e, primary(depth));
    if (e->kind == NodeKind::Offset) {
      size_t save = p_;
      skip_space();
      if (peek() == '*' || peek() == '[' || (peek() == '-' && peek(1) == '>'))
        return error_at(p_, "'" + std::string(1, peek()) + "' cannot be applied to an @offset");
      p_ = save;
      return e;
    }
    return postfixes(std::move(e));
  }

  Result<NodePtr> postfixes(NodePtr e) {
    for (;;) {
      size_t save = p_;
      skip_space();
      auto wrap = std::make_unique<Node>();
      wrap->pos = p_;
      if (peek() == '*') {
        ++p_;
        skip_space();
        wrap->kind = NodeKind::Repeat;
        NBD_TRY_ASSIGN(wrap->n, number("a repeat count after '*'", true));
      } else if (peek() == '[') {
        ++p_;
        wrap->kind = NodeKind::Slice;
        NBD_TRY(slice(*wrap));
      } else if (peek() == '-' && peek(1) == '>') {
        p_ += 2;
        skip_space();
        if (peek() != '\\') return expected("'\\NAME' after '->'");
        ++p_;
        wrap->kind = NodeKind::Assign;
        NBD_TRY_ASSIGN(wrap->text, word(is_name_char, "a name after '\\'"));
        wrap->height = e->height + 1;
        wrap->children.push_back(std::move(e));
        return wrap;
      } else {
        p_ = save;
        return e;
      }
      if (e->height + 1 > kMaxHeight) return error_at(wrap->pos, "expression nested too deeply");
      wrap->height = e->height + 1;
      wrap->children.push_back(std::move(e));
      e = std::move(wrap);
    }
  }

  Status slice(Node& n) {
    skip_space();
    if (std::isdigit(static_cast<unsigned char>(peek()))) {
      NBD_TRY_ASSIGN(n.n, number("a slice start", true));
      n.has_start = true;
      skip_space();
    }
    if (peek() != ':') return expected("':' in the slice [N:M]");
    ++p_;
    skip_space();
    if (std::isdigit(static_cast<unsigned char>(peek()))) {
      NBD_TRY_ASSIGN(n.m, number("a slice end", true));
      n.has_end = true;
      skip_space();
    }
    if (peek() != ']') return expected("']' closing the slice [N:M]");
    ++p_;
    return ok();
  }

  Result<NodePtr> primary(int depth) {
    auto n = std::make_unique<Node>();
    n->pos = p_;
    char c = peek();
    if (std::isdigit(static_cast<unsigned char>(c))) {
      NBD_TRY_ASSIGN(uint64_t v, number("a byte", false));
      if (v > 255) return error_at(n->pos, "byte " + std::to_string(v) + " is out of range 0..255");
      n->kind = NodeKind::Literal;
      n->text.push_back(static_cast<char>(v));
      return n;
    }
    ++p_;
    switch (c) {
      case '-': return error_at(n->pos, "negative numbers are not allowed");
      case '@': NBD_TRY(offset(*n)); return n;
      case '"': {
        n->kind = NodeKind::Literal;
        NBD_TRY_ASSIGN(n->text, string_literal(n->pos));
        return n;
      }
      case '(': return group(depth + 1, n->pos);
      case '<': NBD_TRY(file_or_script(*n)); return n;
      case '\\': {
        n->kind = NodeKind::Name;
        NBD_TRY_ASSIGN(n->text, word(is_name_char, "a name after '\\'"));
        return n;
      }
      case '$': {
        n->kind = NodeKind::Var;
        NBD_TRY_ASSIGN(n->text, word(is_var_char, "a variable name after '$'"));
        return n;
      }
      default: break;
    }
    --p_;
    if (std::isalpha(static_cast<unsigned char>(c))) return endian_word(std::move(n));
    return expected(kItemExpected);
  }

  Status offset(Node& n) {
    n.kind = NodeKind::Offset;
    const char* what = "an offset after '@'";
    switch (peek()) {
      case '+':
        n.offset_mode = OffsetMode::Forward;
        what = "a number after '@+'";
        ++p_;
        break;
      case '-':
        n.offset_mode = OffsetMode::Backward;
        what = "a number after '@-'";
        ++p_;
        break;
      case '^':
        n.offset_mode = OffsetMode::Align;
        what = "an alignment after '@^'";
        ++p_;
        break;
      default: break;
    }
    NBD_TRY_ASSIGN(n.n, number(what, true));
    if (n.offset_mode == OffsetMode::Align && (n.n == 0 || (n.n & (n.n - 1)) != 0))
      return error_at(n.pos, "@^" + std::to_string(n.n) + ": the alignment must be a power of 2");
    return ok();
  }

  Status file_or_script(Node& n) {
    if (peek() == '(') {
      ++p_;
      n.kind = NodeKind::Script;
      size_t start = p_;
      for (int level = 1; level > 0; ++p_) {
        if (at_end()) return error_at(n.pos, "unterminated '<(': expected ')' closing the script");
        if (peek() == '(') ++level;
        if (peek() == ')') --level;
      }
      n.text = std::string(s_.substr(start, p_ - 1 - start));
      return ok();
    }
    n.kind = NodeKind::File;
    size_t start = p_;
    while (!at_end() && !is_file_end(peek())) ++p_;
    if (p_ == start) return expected("a file name after '<'");
    n.text = std::string(s_.substr(start, p_ - start));
    return ok();
  }

  Result<std::string> word(bool (*ok_char)(char), const char* what) {
    size_t start = p_;
    while (!at_end() && ok_char(peek())) ++p_;
    if (p_ == start) return expected(what);
    return std::string(s_.substr(start, p_ - start));
  }

  Result<NodePtr> endian_word(NodePtr n) {
    size_t start = p_;
    while (!at_end() && std::isalnum(static_cast<unsigned char>(peek()))) ++p_;
    std::string_view w = s_.substr(start, p_ - start);
    bool le = w.starts_with("le"), be = w.starts_with("be");
    int bits = (w.size() == 4 && (le || be)) ? std::atoi(std::string(w.substr(2)).c_str()) : 0;
    if ((bits != 16 && bits != 32 && bits != 64) || peek() != ':') {
      p_ = start;
      return expected(kItemExpected);
    }
    ++p_;
    if (peek() == '-') return error_at(p_, "negative numbers are not allowed");
    NBD_TRY_ASSIGN(uint64_t v, number("a number after the ':'", false));
    if (bits < 64 && (v >> bits) != 0)
      return error_at(start, std::string(w) + ":" + std::to_string(v) + " does not fit in " +
                                 std::to_string(bits) + " bits");
    n->kind = NodeKind::Literal;
    for (int i = 0; i < bits / 8; ++i) {
      int shift = le ? 8 * i : bits - 8 * (i + 1);
      n->text.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    return n;
  }

  // Decimal, 0x hex or 0 octal, like strtoull with base 0; with a K/M/G/T/P/E suffix when
  // allowed. The number must not run into a letter or digit it cannot use.
  Result<uint64_t> number(const std::string& what, bool suffix_ok) {
    size_t start = p_;
    unsigned base = 10;
    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      base = 16;
      p_ += 2;
    } else if (peek() == '0' && std::isdigit(static_cast<unsigned char>(peek(1)))) {
      base = 8;
      ++p_;
    }
    size_t digits = p_;
    uint64_t v = 0;
    for (; !at_end(); ++p_) {
      int d = digit_value(peek());
      if (d < 0 || static_cast<unsigned>(d) >= base) break;
      if (v > (UINT64_MAX - d) / base) return error_at(start, "number too large");
      v = v * base + d;
    }
    if (p_ == digits) {
      if (base == 8) return error_at(p_, "invalid digit " + found() + " in an octal number");
      if (base == 16) return error_at(p_, "expected hex digits after '0x', found " + found());
      return expected(what);
    }
    if (suffix_ok) {
      NBD_TRY_ASSIGN(v, apply_suffix(v, start));
    }
    if (!at_end() && is_var_char(peek())) return error_at(p_, "unexpected " + found() + " after the number");
    return v;
  }

  static int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  Result<uint64_t> apply_suffix(uint64_t v, size_t start) {
    static constexpr std::string_view kSuffixes = "KMGTPE";
    size_t i = kSuffixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(peek()))));
    if (at_end() || i == std::string_view::npos) return v;
    unsigned shift = 10 * static_cast<unsigned>(i + 1);
    if (v > (UINT64_MAX >> shift)) return error_at(start, "number too large");
    ++p_;
    return v << shift;
  }

  Result<std::string> string_literal(size_t start) {
    std::string out;
    for (;;) {
      if (at_end()) return error_at(start, "unterminated string: expected '\"'");
      char c = s_[p_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_end()) return error_at(start, "unterminated string: expected '\"'");
      NBD_TRY(escape(out));
    }
  }

  Status escape(std::string& out) {
    size_t at = p_ - 1;
    char e = s_[p_++];
    switch (e) {
      case 'a': out.push_back('\a'); return ok();
      case 'b': out.push_back('\b'); return ok();
      case 'f': out.push_back('\f'); return ok();
      case 'n': out.push_back('\n'); return ok();
      case 'r': out.push_back('\r'); return ok();
      case 't': out.push_back('\t'); return ok();
      case 'v': out.push_back('\v'); return ok();
      case '\\':
      case '"':
      case '\'':
      case '?': out.push_back(e); return ok();
      default: break;
    }
    unsigned v = 0, n = 0;
    if (e == 'x') {
      for (; n < 2 && digit_value(peek()) >= 0; ++n, ++p_) v = v * 16 + digit_value(peek());
      if (n == 0) return error_at(at, "expected hex digits after '\\x'");
    } else if (e >= '0' && e <= '7') {
      v = e - '0';
      for (n = 1; n < 3 && peek() >= '0' && peek() <= '7'; ++n, ++p_) v = v * 8 + (peek() - '0');
      if (v > 255) return error_at(at, "octal escape out of range 0..255");
    } else {
      return error_at(at, std::string("unknown escape '\\") + e + "' in string");
    }
    out.push_back(static_cast<char>(v));
    return ok();
  }
};

}  // namespace

Result<NodePtr> parse(std::string_view text, std::string_view source) {
  return Parser(text, source).program();
}

}  // namespace nbd::data
