// SPDX-License-Identifier: BSD-3-Clause
// The data plugin's language as a tree: the parser (data_parser.h) builds it from the data=
// string, the evaluator (data_eval.h) turns it into an Image. Each node keeps its position in
// the source so that evaluation errors can point at it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nbd::data {

enum class NodeKind {
  Literal,  // literal bytes: numbers, strings and le/be words, adjacent ones merged (text)
  Offset,   // @N, @+N, @-N, @^N (offset_mode, n)
  Group,    // ( ... ) or the whole program: a new scope (children)
  File,     // <FILE (text = path)
  Script,   // <(SCRIPT) (text = script)
  Name,     // \NAME (text = name)
  Var,      // $VAR (text = name)
  Repeat,   // child * n
  Slice,    // child[n:m] (has_start, has_end)
  Assign,   // child -> \NAME (text = name); writes nothing
};

enum class OffsetMode { Absolute, Forward, Backward, Align };

struct Node {
  NodeKind kind = NodeKind::Group;
  size_t pos = 0;  // byte offset of the node in its source string
  std::string text;
  OffsetMode offset_mode = OffsetMode::Absolute;
  uint64_t n = 0;
  uint64_t m = 0;
  bool has_start = false;
  bool has_end = false;
  uint32_t height = 0;  // longest path to a leaf: the parser bounds it (evaluation recurses on it)
  std::vector<std::unique_ptr<Node>> children;
};

using NodePtr = std::unique_ptr<Node>;

}  // namespace nbd::data
