// A subset of a data set's classes (the fit statement's classes=[...]): the
// examples of those classes, relabeled 0..k-1 in the order given.
#pragma once

#include "runtime/Idx.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// How many classes `data` has: its class names, or for data without names
// (IDX, in memory) its largest label plus one.
int64_t classCount(const LabeledImages &data);

// Keeps the examples whose label is in `classes` (distinct, each below
// classCount), in their order, with label classes[i] becoming i. The class
// names follow: the kept names in the new order, or for data without names
// the original labels as text ("5"), so that predictions and saved weights
// still say which digit an output unit means. Errors start with `who`
// ("classes", "Dataset::subset") and name `what` ("the training data"):
// a class the data does not have, a repeated or empty list, or no example
// left.
absl::StatusOr<LabeledImages> selectClasses(const LabeledImages &data,
                                            const std::vector<int64_t> &classes,
                                            const std::string &who,
                                            const std::string &what);

// "Keeping 5 of 10 classes (5, 6, 7, 8, 9): 29404 images.\n", for the
// data's load log.
std::string subsetLog(const LabeledImages &all, const LabeledImages &kept);

} // namespace cnnc::runtime
