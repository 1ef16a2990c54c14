// The parser's raw form of one statement or layer line: a keyword and its
// name=value arguments, before any checking of names, types or ranges.
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::frontend {

struct RawArg;

struct RawValue {
  enum class Kind { Int, Float, String, Name, Tuple, List, Call };
  Kind kind = Kind::Int;
  SourceLoc loc;
  std::string text; // number spelling, name, callee or string contents
  int64_t intValue = 0;
  double floatValue = 0;          // Int and Float
  std::vector<RawValue> elements; // Tuple, List
  std::vector<RawArg> args;       // Call
};

struct RawArg {
  std::string name; // empty for a positional call argument
  SourceLoc loc;    // the name, or the value when positional
  RawValue value;
};

struct RawStatement {
  std::string keyword;
  SourceLoc loc;
  std::vector<RawArg> args;
};

} // namespace cnnc::frontend
