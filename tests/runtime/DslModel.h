// A runtime::Model straight from DSL text (parse, lower, create, initialize),
// for tests of the training loop below the public API.
#pragma once

#include "frontend/Frontend.h"
#include "runtime/Model.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace cnnc::runtime {

inline std::unique_ptr<Model> modelFromDsl(const std::string &text, int threads,
                                           uint64_t seed) {
  frontend::ParseResult r = frontend::parseProgram(text, "model.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  if (r.error)
    return nullptr;
  ir::TrainingSpec spec = frontend::trainingSpec(*r.program);
  frontend::LowerResult l = frontend::lowerModel(*r.program, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  if (l.error)
    return nullptr;
  auto m = Model::create(l.model->forward, spec, threads);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok())
    return nullptr;
  (*m)->initializeWeights(seed);
  return *std::move(m);
}

} // namespace cnnc::runtime
