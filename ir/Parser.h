// Reads the textual tensor IR that ir::printGraph writes (docs/ir.md, "Text
// format") back into a Graph: printGraph(parse(printGraph(g))) ==
// printGraph(g) for every graph.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

#include <string>
#include <string_view>

namespace cnnc::ir {

struct ParseOptions {
  // Line number of the text's first line, for a chunk cut from a larger file
  // (cnnc-opt --split-input-file), so that errors point into that file.
  int firstLine = 1;
  // Runs the verifier on the parsed graph; its errors point at the offending
  // op's line in the text.
  bool verify = true;
};

// Parses one `graph @name { ... }`. Every error is an InvalidArgument status
// whose message is one line, "FILE:LINE:COL: error: MESSAGE": syntax errors,
// unknown ops, a value used before its definition or never defined, a name
// defined twice, and (with options.verify) everything the verifier rejects.
absl::StatusOr<Graph> parseGraph(std::string_view text,
                                 const std::string &filename,
                                 const ParseOptions &options = {});

} // namespace cnnc::ir
