// Status propagation in one place: early return of an error Status, and of
// the error of a StatusOr while binding its value.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <utility>

// Returns the error of `expr` (an absl::Status) from the calling function.
#define CNNC_TRY(expr)                                                         \
  do {                                                                         \
    if (absl::Status cnnc_try_status_ = (expr); !cnnc_try_status_.ok())        \
      return cnnc_try_status_;                                                 \
  } while (0)

// `auto lhs = value of expr` (an absl::StatusOr), or returns its error.
#define CNNC_ASSIGN_OR_RETURN(lhs, expr)                                       \
  auto lhs##_or_ = (expr);                                                     \
  if (!lhs##_or_.ok())                                                         \
    return lhs##_or_.status();                                                 \
  auto lhs = *std::move(lhs##_or_)
