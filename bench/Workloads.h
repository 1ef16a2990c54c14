// What cnnc-bench runs in its child processes: each prints "result ..."
// lines of key=value fields on stdout and returns the exit status.
#pragma once

#include <cstdint>
#include <string>

namespace cnnc::bench {

struct WorkloadOptions {
  std::string model; // DSL file
  std::string data;  // MNIST directory ("" = cnnc's default search)
  int64_t batch = 32;
  int threads = 1;
  int64_t images = 6400; // training images per timed run
  int64_t warmupSteps = 20;
  int repeats = 5;
  bool profile = false;   // also print the per-kernel table
  double peakGflops = 0;  // for the table's "% peak" column
  int compileThreads = 0; // codegen::CompileOptions::threads
  // Replaces the model's compile dtype_policy when not empty.
  std::string dtypePolicy;
};

// Times the training step (median ms/step over `repeats` runs), evaluation
// of the test set and, with `profile`, prints the per-kernel table:
//   result train ms_per_step=... flops_per_step=... compile_s=...
//   eval_images_per_s=... eval_compile_s=... steps=... digest=...
int runTrainWorkload(const WorkloadOptions &o);

// Compiles the training step (batch o.batch) and the evaluation graph
// (batch 250) once each:
//   result compile train_s=... eval_s=...
int runCompileWorkload(const WorkloadOptions &o);

} // namespace cnnc::bench
