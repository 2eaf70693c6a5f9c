// SPDX-License-Identifier: BSD-3-Clause
// Evaluator for the data language: turns the tree from data_parser.h into an Image, reading
// <FILEs, running <(SCRIPT)s, expanding $VARs and \NAMEs. Nothing is expanded that the Image
// can describe compactly (offsets, zeroes, repeats).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "data_ast.h"
#include "data_image.h"
#include "nbd/result.h"

namespace nbd::data {

// Finds the text of $NAME (the plugin's extra parameters, then the environment); nullopt if
// there is none.
using VarLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Evaluates a parsed program. source names the text the tree came from, for errors such as
// "data: offset 4: \foo is not defined".
Result<Image> evaluate(const Node& program, std::string_view source, const VarLookup& vars);

// parse() then evaluate().
Result<Image> evaluate_string(std::string_view text, std::string_view source, const VarLookup& vars);

}  // namespace nbd::data
