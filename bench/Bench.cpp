// cnnc-bench: how close the MNIST tutorial's training step comes to this
// machine's arithmetic limit, in one invocation (see docs/performance.md):
// FMA peak from a generated kernel; per batch size and thread count the
// training step (ms/step, images/s, GFLOP/s, % of peak), evaluation
// throughput and peak RSS; the per-kernel table; compile time cold and warm
// (kernel cache); a full `cnnc --train` epoch; and, where PyTorch is
// installed, the same model and recipe in PyTorch side by side.
#include "bench/FmaPeak.h"
#include "bench/Process.h"
#include "bench/Workloads.h"
#include "codegen/Compiler.h"
#include "runtime/Idx.h"
#include "runtime/Model.h"
#include "runtime/ThreadPool.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace cnnc::bench;

namespace {

constexpr const char *kUsage = R"(usage: cnnc-bench [options]
  --model FILE          DSL model (default: models/mnist.dsl of the source tree)
  --data DIR            MNIST directory (default: cnnc's search)
  --batch-sizes LIST    training batch sizes (default: 32,128,256)
  --threads LIST        thread counts (default: 1 and all cores)
  --images N            training images per timed run (default: 6400)
  --repeats N           timed runs per configuration; medians (default: 5)
  --no-torch            skip PyTorch even when it is installed
  --torch-steps N       PyTorch steps per timed run (default: 100)
  --no-cache            disable the kernel cache in the measured runs
  --no-e2e              skip the `cnnc --train --epochs 1` run
  --augmented FILE      the model with augmentation layers timed against
                        --model (default: models/mnist_augmented.dsl)
  --no-augmented        skip that comparison
  --quick               fewer images, steps and repeats (a smoke test)
  --no-busy             skip the training step beside a busy-loop process
  --suite               instead: the model suite (tutorial, mnist_wide,
                        mnist_bn, cifar_vgg), each at its batch size on 1 and
                        all threads, with PyTorch's best thread setting, and
                        under mixed_bfloat16 on all threads
  --dtype-policy NAME   the models' dtype policy (float32, mixed_bfloat16)
)";

struct Options {
  std::string model = CNNC_SOURCE_DIR "/models/mnist.dsl";
  std::string data;
  std::vector<int64_t> batches = {32, 128, 256};
  std::vector<int64_t> threads;
  int64_t images = 6400;
  int repeats = 5;
  std::string augmented = CNNC_SOURCE_DIR "/models/mnist_augmented.dsl";
  bool torch = true, cache = true, e2e = true, augment = true;
  bool suite = false, busy = true;
  int64_t torchSteps = 100;
  // Child mode.
  std::string child;
  WorkloadOptions work;
};

std::vector<int64_t> parseList(const std::string &s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (int64_t v = std::atoll(item.c_str()); v > 0)
      out.push_back(v);
  return out;
}

std::string joinList(const std::vector<int64_t> &v) {
  std::string out;
  for (int64_t x : v)
    out.append(out.empty() ? "" : ",").append(std::to_string(x));
  return out;
}

bool parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model")
      o.model = o.work.model = next();
    else if (a == "--data")
      o.data = o.work.data = next();
    else if (a == "--batch-sizes")
      o.batches = parseList(next());
    else if (a == "--threads")
      o.threads = parseList(next());
    else if (a == "--images")
      o.images = o.work.images = std::atoll(next().c_str());
    else if (a == "--repeats")
      o.repeats = o.work.repeats = std::max(1, std::atoi(next().c_str()));
    else if (a == "--no-torch")
      o.torch = false;
    else if (a == "--torch-steps")
      o.torchSteps = std::atoll(next().c_str());
    else if (a == "--no-cache")
      o.cache = false;
    else if (a == "--no-e2e")
      o.e2e = false;
    else if (a == "--augmented")
      o.augmented = next();
    else if (a == "--no-augmented")
      o.augment = false;
    else if (a == "--quick") {
      o.images = o.work.images = 1600;
      o.repeats = o.work.repeats = 1;
      o.torchSteps = 30;
    } else if (a == "--suite")
      o.suite = true;
    else if (a == "--no-busy")
      o.busy = false;
    else if (a == "--child")
      o.child = next();
    else if (a == "--batch")
      o.work.batch = std::atoll(next().c_str());
    else if (a == "--thread-count")
      o.work.threads = std::atoi(next().c_str());
    else if (a == "--dtype-policy")
      o.work.dtypePolicy = next();
    else if (a == "--compile-threads")
      o.work.compileThreads = std::atoi(next().c_str());
    else if (a == "--profile")
      o.work.profile = true;
    else if (a == "--peak")
      o.work.peakGflops = std::atof(next().c_str());
    else {
      fmt::print(stderr, "cnnc-bench: error: unknown argument '{}'\n{}", a,
                 kUsage);
      return false;
    }
  }
  if (o.work.model.empty())
    o.work.model = o.model;
  return !o.batches.empty();
}

// A python3 that can `import torch`: the one on PATH, else Debian's.
std::string findTorchPython() {
  for (const char *py : {"python3", "/usr/bin/python3"}) {
    ProcessResult r = runProcess({py, "-c", "import torch"}, true);
    if (r.exitCode == 0)
      return py;
  }
  return "";
}

struct TrainResult {
  bool ok = false;
  double msPerStep = 0, flops = 0, compile = 0, evalRate = 0, rssMb = 0;
  double evalCompile = 0, accuracy = 0;
  std::string digest;
  std::string profile; // the child's table, when asked
};

TrainResult runTrain(const Options &o, int64_t batch, int64_t threads,
                     bool profile, double peak) {
  std::vector<std::string> args = {selfPath(),
                                   "--child",
                                   "train",
                                   "--model",
                                   o.model,
                                   "--batch",
                                   std::to_string(batch),
                                   "--thread-count",
                                   std::to_string(threads),
                                   "--images",
                                   std::to_string(o.images),
                                   "--repeats",
                                   std::to_string(o.repeats)};
  if (!o.data.empty())
    args.insert(args.end(), {"--data", o.data});
  if (profile)
    args.insert(args.end(), {"--profile", "--peak", fmt::format("{}", peak)});
  if (!o.work.dtypePolicy.empty())
    args.insert(args.end(), {"--dtype-policy", o.work.dtypePolicy});
  ProcessResult p = runProcess(args);
  TrainResult r;
  if (p.exitCode != 0) {
    fmt::print(stderr,
               "cnnc-bench: the run of batch {}, {} threads failed "
               "(exit status {})\n",
               batch, threads, p.exitCode);
    return r;
  }
  const std::string pre = "result train ";
  r.ok = true;
  r.msPerStep = fieldNumber(p.out, pre, "ms_per_step");
  r.flops = fieldNumber(p.out, pre, "flops_per_step");
  r.compile = fieldNumber(p.out, pre, "compile_s");
  r.evalRate = fieldNumber(p.out, pre, "eval_images_per_s");
  r.evalCompile = fieldNumber(p.out, pre, "eval_compile_s");
  r.accuracy = fieldNumber(p.out, pre, "test_accuracy");
  r.digest = field(p.out, pre, "digest");
  r.rssMb = p.maxRssMb;
  if (size_t at = p.out.find('\n', p.out.find(pre)); at != std::string::npos)
    r.profile = p.out.substr(at + 1);
  return r;
}

std::string yesNo(bool b) { return b ? "yes" : "NO"; }

// The upper median (the middle of an odd count).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The reference for "% of peak" on t threads: the larger of t times the
// one-thread peak and the t-thread measurement, so that a busy machine
// (the other core taken while the peak ran) never inflates a percentage.
double peakFor(const FmaPeak &peak, int64_t threads, int64_t maxThreads) {
  double scaled = peak.gflops1 * static_cast<double>(threads);
  return threads == maxThreads ? std::max(scaled, peak.gflopsN) : scaled;
}

// "AMD EPYC 9R45" from /proc/cpuinfo's first "model name".
std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      if (size_t colon = line.find(": "); colon != std::string::npos)
        return line.substr(colon + 2);
  return "unknown CPU";
}

int runBench(Options &o) {
  if (o.threads.empty())
    o.threads = {1};
  int64_t cores = cnnc::runtime::ThreadPool::defaultThreads();
  if (o.threads == std::vector<int64_t>{1} && cores > 1)
    o.threads.push_back(cores);
  int64_t maxThreads = *std::max_element(o.threads.begin(), o.threads.end());

  // Children share one fresh cache directory: the first compile of each
  // graph is cold, every later one warm.
  std::string cacheDir = (fs::temp_directory_path() / "cnnc-bench-XXXXXX");
  if (!mkdtemp(cacheDir.data())) {
    fmt::print(stderr, "cnnc-bench: error: cannot create a temp directory\n");
    return 1;
  }
  setenv("CNNC_CACHE_DIR", cacheDir.c_str(), 1);
  if (!o.cache)
    setenv("CNNC_NO_CACHE", "1", 1);

  fmt::print("cnnc-bench: {}, {} cores, model {}\n", cpuModel(), cores,
             o.model);
  auto peak = measureFmaPeak(static_cast<int>(maxThreads));
  if (!peak.ok()) {
    fmt::print(stderr, "cnnc-bench: error: {}\n",
               std::string(peak.status().message()));
    return 1;
  }
  auto peakOf = [&](int64_t t) { return peakFor(*peak, t, maxThreads); };
  fmt::print("\nFMA peak ({}, generated kernel: {} chains of {}-bit "
             "fmuladd per thread; best of 7 runs)\n  1 thread: {:.1f} GFLOP/s",
             peak->cpu, peak->chains, peak->vectorBits, peak->gflops1);
  if (maxThreads > 1)
    fmt::print(", {} threads: {:.1f} GFLOP/s", maxThreads, peak->gflopsN);
  fmt::print("\n");
  if (peak->gflopsN < 0.95 * peakOf(maxThreads))
    fmt::print("  (the {}-thread run was slowed by other processes: % of peak "
               "uses {} x the 1-thread peak, {:.1f} GFLOP/s)\n",
               maxThreads, maxThreads, peakOf(maxThreads));
  std::fflush(stdout);

  // Compile time: fresh processes, first with the empty cache, then warm.
  std::vector<std::string> compileArgs = {selfPath(),
                                          "--child",
                                          "compile",
                                          "--model",
                                          o.model,
                                          "--batch",
                                          std::to_string(o.batches.front())};
  ProcessResult cold = runProcess(compileArgs);
  ProcessResult warm = runProcess(compileArgs);
  fmt::print("\nCompile (fresh process each; training step batch {}, "
             "evaluation batch 250; kernel cache {})\n",
             o.batches.front(), o.cache ? cacheDir : "off");
  fmt::print("  {:<6} {:>12} {:>12} {:>14}\n", "", "train step", "eval",
             "process wall");
  for (auto [name, p] : {std::pair{"cold", &cold}, {"warm", &warm}})
    fmt::print("  {:<6} {:>10.3f} s {:>10.3f} s {:>12.3f} s\n", name,
               fieldNumber(p->out, "result compile ", "train_s"),
               fieldNumber(p->out, "result compile ", "eval_s"), p->seconds);
  std::fflush(stdout);

  // Training step per batch size and thread count.
  fmt::print("\nTraining step ({} images per timed run, median of {}; a "
             "fresh process per row)\n",
             o.images, o.repeats);
  fmt::print("  {:>5} {:>7} {:>9} {:>9} {:>8} {:>7} {:>9} {:>11} {:>9}\n",
             "batch", "threads", "ms/step", "images/s", "GFLOP/s", "% peak",
             "epoch s", "eval img/s", "peak RSS");
  std::map<std::pair<int64_t, int64_t>, TrainResult> results;
  std::string profile;
  for (int64_t batch : o.batches) {
    for (int64_t threads : o.threads) {
      bool prof = batch == o.batches.front() && threads == maxThreads;
      TrainResult r = runTrain(o, batch, threads, prof, peakOf(threads));
      results[{batch, threads}] = r;
      if (!r.ok) {
        fmt::print("  {:>5} {:>7} failed\n", batch, threads);
        continue;
      }
      if (prof)
        profile = r.profile;
      double gflops = r.flops / (r.msPerStep * 1e-3) / 1e9;
      int64_t steps = (60000 + batch - 1) / batch;
      fmt::print("  {:>5} {:>7} {:>9.3f} {:>9.0f} {:>8.1f} {:>6.1f}% {:>9.2f} "
                 "{:>11.0f} {:>6.1f} MB\n",
                 batch, threads, r.msPerStep, batch * 1e3 / r.msPerStep, gflops,
                 100 * gflops / peakOf(threads), r.msPerStep * steps * 1e-3,
                 r.evalRate, r.rssMb);
      std::fflush(stdout);
    }
  }
  const TrainResult &first = results[{o.batches.front(), o.threads.front()}];
  if (first.ok)
    fmt::print("  FLOPs per step (batch {}): {:.3g} (multiply-add = 2)\n",
               o.batches.front(), first.flops);
  if (!profile.empty())
    fmt::print("\nPer-kernel table (batch {}, {} threads; profiling adds a "
               "clock read per kernel)\n{}",
               o.batches.front(), maxThreads, profile);

  // Determinism: the same run again gives bit-identical predictions.
  TrainResult again = runTrain(o, o.batches.front(), maxThreads, false, 0);
  const TrainResult &ref = results[{o.batches.front(), maxThreads}];
  bool identical = again.ok && ref.ok && again.digest == ref.digest;
  fmt::print("\nRun to run (batch {}, {} threads, same seed): predictions "
             "{}\n",
             o.batches.front(), maxThreads,
             identical ? "bit-identical" : "DIFFER");

  // A busy core: one process that spins forever (as `python3 -c 'while
  // True: pass'` does) beside the step on 1 and on all threads, alternating
  // fresh processes so that both see the same load; medians of three pairs.
  double busyRatio = 0;
  if (o.busy && maxThreads > 1) {
    pid_t spinner = fork();
    if (spinner == 0) {
      std::atomic<uint64_t> spins{0};
      for (;;)
        spins.fetch_add(1, std::memory_order_relaxed);
    }
    if (spinner > 0) {
      std::vector<double> oneMs, allMs;
      for (int pair = 0; pair < 3; ++pair) {
        TrainResult a = runTrain(o, o.batches.front(), 1, false, 0);
        TrainResult b = runTrain(o, o.batches.front(), maxThreads, false, 0);
        if (a.ok && b.ok) {
          oneMs.push_back(a.msPerStep);
          allMs.push_back(b.msPerStep);
        }
      }
      kill(spinner, SIGKILL);
      waitpid(spinner, nullptr, 0);
      if (!oneMs.empty()) {
        std::sort(oneMs.begin(), oneMs.end());
        std::sort(allMs.begin(), allMs.end());
        double one = oneMs[oneMs.size() / 2], all = allMs[allMs.size() / 2];
        busyRatio = all / one;
        fmt::print("\nBeside a busy-loop process (batch {}, median of {} "
                   "alternating pairs)\n  1 thread {:.3f} ms/step, {} threads "
                   "{:.3f} ms/step: {:.3f}x\n",
                   o.batches.front(), oneMs.size(), one, maxThreads, all,
                   busyRatio);
        std::fflush(stdout);
      }
    }
  }

  // Augmentation's cost: the augmented model's step against the model's,
  // same batch and threads, alternating fresh processes so that both see
  // the same machine load; medians of three pairs.
  double augmentRatio = 0;
  if (o.augment && fs::exists(o.augmented)) {
    Options aug = o;
    aug.model = aug.work.model = o.augmented;
    std::vector<double> plainMs, augMs;
    for (int pair = 0; pair < 3; ++pair) {
      TrainResult p = runTrain(o, o.batches.front(), maxThreads, false, 0);
      TrainResult a = runTrain(aug, o.batches.front(), maxThreads, false, 0);
      if (p.ok && a.ok) {
        plainMs.push_back(p.msPerStep);
        augMs.push_back(a.msPerStep);
      }
    }
    if (!plainMs.empty()) {
      double pm = median(plainMs), am = median(augMs);
      augmentRatio = am / pm;
      int64_t steps = (60000 + o.batches.front() - 1) / o.batches.front();
      fmt::print("\nAugmentation ({}; batch {}, {} threads, median of {} "
                 "alternating pairs)\n  plain {:.3f} ms/step (epoch {:.2f} "
                 "s), augmented {:.3f} ms/step (epoch {:.2f} s): {:.3f}x\n",
                 o.augmented, o.batches.front(), maxThreads, plainMs.size(), pm,
                 pm * steps * 1e-3, am, am * steps * 1e-3, augmentRatio);
    } else {
      fmt::print("\nAugmentation ({}): failed\n", o.augmented);
    }
    std::fflush(stdout);
  }

  // A whole `cnnc --train` epoch, as a user runs it: first with an empty
  // kernel cache (the worst case for memory and start-up), then warm.
  double e2eEpoch = 0, e2eRss = 0;
  fs::path cnncExe = fs::path(selfPath()).parent_path().parent_path() / "cnnc";
  if (o.e2e && fs::exists(cnncExe)) {
    std::vector<std::string> args = {cnncExe.string(),
                                     o.model,
                                     "--train",
                                     "--epochs",
                                     "1",
                                     "--threads",
                                     std::to_string(maxThreads),
                                     "--save",
                                     cacheDir + "/w.safetensors"};
    if (!o.data.empty())
      args.insert(args.end(), {"--data", o.data});
    if (o.cache)
      setenv("CNNC_CACHE_DIR", (cacheDir + "/e2e").c_str(), 1);
    fmt::print("\ncnnc {} --train --epochs 1 --threads {}\n", o.model,
               maxThreads);
    std::vector<const char *> runs = {"cold cache", "warm cache"};
    if (!o.cache)
      runs = {"cache off"};
    for (const char *run : runs) {
      ProcessResult p = runProcess(args);
      std::string out = p.out;
      size_t at = out.find("Epoch 1/1");
      if (p.exitCode != 0 || at == std::string::npos) {
        fmt::print("  {}: failed (exit status {})\n", run, p.exitCode);
        break;
      }
      size_t dash = out.find(" - ", at);
      double epoch = std::atof(out.c_str() + dash + 3);
      size_t acc = out.find("Test accuracy: ");
      fmt::print("  {}: epoch {:.2f} s, process {:.2f} s, peak RSS {:.1f} "
                 "MB, test accuracy {}\n",
                 run, epoch, p.seconds, p.maxRssMb,
                 acc == std::string::npos ? "?" : out.substr(acc + 15, 6));
      e2eRss = std::max(e2eRss, p.maxRssMb);
      e2eEpoch = e2eEpoch > 0 ? std::min(e2eEpoch, epoch) : epoch;
    }
    setenv("CNNC_CACHE_DIR", cacheDir.c_str(), 1);
  }

  // PyTorch, same model and recipe.
  std::map<int64_t, double> torchMs;
  std::map<int64_t, double> torchEval;
  std::string python = o.torch ? findTorchPython() : "";
  std::string script = CNNC_SOURCE_DIR "/bench/pytorch_mnist.py";
  if (!python.empty() && fs::exists(script)) {
    std::string dataDir = o.data;
    if (dataDir.empty())
      if (auto d = cnnc::runtime::findMnistDir(""); d.ok())
        dataDir = *d;
    ProcessResult p = runProcess(
        {python, script, "--data", dataDir, "--threads", joinList(o.threads),
         "--batch-sizes", std::to_string(o.batches.front()), "--steps",
         std::to_string(o.torchSteps), "--repeats", std::to_string(o.repeats)});
    std::string version = field(p.out, "result version", "");
    for (int64_t t : o.threads) {
      std::string pre = fmt::format("result train threads={} batch={} ", t,
                                    o.batches.front());
      if (double ms = fieldNumber(p.out, pre, "ms_per_step"); ms > 0)
        torchMs[t] = ms;
      if (double e = fieldNumber(
              p.out, fmt::format("result eval threads={} ", t), "images_per_s");
          e > 0)
        torchEval[t] = e;
    }
    size_t v = p.out.find("result version ");
    fmt::print("\nPyTorch {} ({}; batch {}, {} steps per timed run, median "
               "of {}), peak RSS {:.0f} MB\n",
               v == std::string::npos
                   ? "?"
                   : p.out.substr(v + 15, p.out.find('\n', v) - v - 15),
               python, o.batches.front(), o.torchSteps, o.repeats, p.maxRssMb);
    fmt::print("  {:>7} {:>12} {:>12} {:>9} {:>12} {:>12}\n", "threads",
               "torch ms/st", "cnnc ms/st", "speedup", "torch eval/s",
               "cnnc eval/s");
    for (int64_t t : o.threads) {
      const TrainResult &c = results[{o.batches.front(), t}];
      if (!torchMs.count(t) || !c.ok)
        continue;
      fmt::print("  {:>7} {:>12.3f} {:>12.3f} {:>8.2f}x {:>12.0f} {:>12.0f}\n",
                 t, torchMs[t], c.msPerStep, torchMs[t] / c.msPerStep,
                 torchEval[t], c.evalRate);
    }
    (void)version;
  } else if (o.torch) {
    fmt::print("\nPyTorch: not installed (no python3 that can import torch); "
               "skipped\n");
  }

  // The issue's goals, as measured above.
  int64_t b0 = o.batches.front();
  const TrainResult &best = results[{b0, maxThreads}];
  const TrainResult &one = results[{b0, 1}];
  int64_t steps0 = (60000 + b0 - 1) / b0;
  if (best.ok) {
    double epoch = best.msPerStep * steps0 * 1e-3;
    double gflops = best.flops / (best.msPerStep * 1e-3) / 1e9;
    fmt::print("\nGoals (batch {}):\n", b0);
    fmt::print(
        "  epoch on {} threads {:.2f} s{} (<= 6 s): {}\n", maxThreads, epoch,
        e2eEpoch > 0 ? fmt::format("; {:.2f} s in cnnc --train", e2eEpoch) : "",
        yesNo(epoch <= 6));
    if (!torchMs.empty()) {
      double torchBest = 1e30;
      for (auto [t, ms] : torchMs)
        torchBest = std::min(torchBest, ms);
      double cnncBest = 1e30;
      for (int64_t t : o.threads)
        if (results[{b0, t}].ok)
          cnncBest = std::min(cnncBest, results[{b0, t}].msPerStep);
      fmt::print("  vs PyTorch's best thread setting {:.2f}x (>= 4x): {}\n",
                 torchBest / cnncBest, yesNo(torchBest / cnncBest >= 4));
    }
    fmt::print("  whole step {:.1f}% of peak (>= 65%): {}\n",
               100 * gflops / peakOf(maxThreads),
               yesNo(gflops / peakOf(maxThreads) >= 0.65));
    if (one.ok && maxThreads > 1) {
      double e1 = one.msPerStep * steps0 * 1e-3;
      fmt::print("  epoch on 1 thread {:.2f} s (<= 11 s): {}\n", e1,
                 yesNo(e1 <= 11));
    }
    fmt::print("  evaluation {:.0f} images/s on {} threads (>= 25000): {}\n",
               best.evalRate, maxThreads, yesNo(best.evalRate >= 25000));
    double c = fieldNumber(cold.out, "result compile ", "train_s");
    double w = fieldNumber(warm.out, "result compile ", "train_s");
    fmt::print("  compile cold {:.3f} s (<= 1 s): {}; warm {:.1f} ms (<= "
               "100 ms): {}\n",
               c, yesNo(c > 0 && c <= 1), w * 1e3, yesNo(w > 0 && w <= 0.1));
    double rss = e2eRss > 0 ? e2eRss : best.rssMb;
    fmt::print("  peak RSS {:.1f} MB{} (<= 150 MB): {}\n", rss,
               e2eRss > 0 ? " (cnnc --train)" : "", yesNo(rss <= 150));
    fmt::print("  bit-identical run to run: {}\n", yesNo(identical));
    if (busyRatio > 0)
      fmt::print("  beside a busy loop, {} threads {:.3f}x 1 thread (<= "
                 "0.8x): {}\n",
                 maxThreads, busyRatio, yesNo(busyRatio <= 0.8));
    if (augmentRatio > 0)
      fmt::print("  augmented epoch {:.3f}x the plain one (<= 1.10x): {}\n",
                 augmentRatio, yesNo(augmentRatio <= 1.10));
  }
  std::error_code ec;
  fs::remove_all(cacheDir, ec);
  return 0;
}

// One row of the model suite: a model of models/ and the batch size its fit
// line uses; `torch` names the same model in bench/pytorch_mnist.py.
struct SuiteModel {
  const char *torch;
  const char *file;
  int64_t batch;
};
constexpr SuiteModel kSuite[] = {
    {"mnist", "mnist.dsl", 32},
    {"mnist_wide", "mnist_wide.dsl", 64},
    {"mnist_bn", "mnist_bn.dsl", 32},
    {"cifar_vgg", "cifar_vgg.dsl", 64},
};

// The model suite: per model, cnnc's step on 1 and all threads (% of the
// peak measured in this run) and PyTorch's on the same thread counts; the
// speed-up is against PyTorch's best thread setting.
int runSuite(Options &o) {
  int64_t cores = cnnc::runtime::ThreadPool::defaultThreads();
  if (o.threads.empty())
    o.threads =
        cores > 1 ? std::vector<int64_t>{1, cores} : std::vector<int64_t>{1};
  int64_t maxThreads = *std::max_element(o.threads.begin(), o.threads.end());
  std::string cacheDir = (fs::temp_directory_path() / "cnnc-bench-XXXXXX");
  if (!mkdtemp(cacheDir.data())) {
    fmt::print(stderr, "cnnc-bench: error: cannot create a temp directory\n");
    return 1;
  }
  setenv("CNNC_CACHE_DIR", cacheDir.c_str(), 1);
  auto peak = measureFmaPeak(static_cast<int>(maxThreads));
  if (!peak.ok()) {
    fmt::print(stderr, "cnnc-bench: error: {}\n",
               std::string(peak.status().message()));
    return 1;
  }
  auto peakOf = [&](int64_t t) { return peakFor(*peak, t, maxThreads); };
  double load = 0;
  if (std::ifstream in("/proc/loadavg"); in)
    in >> load;
  fmt::print("cnnc-bench --suite: {}, {} cores, load average {:.2f}\n"
             "FMA peak: 1 thread {:.1f} GFLOP/s, {} threads {:.1f} GFLOP/s "
             "(% peak uses the larger of that and {} x the 1-thread peak)\n",
             cpuModel(), cores, load, peak->gflops1, maxThreads, peak->gflopsN,
             maxThreads);
  std::string python = o.torch ? findTorchPython() : "";
  std::string script = CNNC_SOURCE_DIR "/bench/pytorch_mnist.py";
  std::string dataDir = o.data;
  if (dataDir.empty())
    if (auto d = cnnc::runtime::findMnistDir(""); d.ok())
      dataDir = *d;
  if (python.empty())
    fmt::print("PyTorch: {}\n", o.torch ? "not installed; skipped" : "off");
  // What the bf16 column measures on this host (docs/dsl.md "Dtype
  // policies").
  fmt::print("mixed_bfloat16: {}\n",
             !cnnc::runtime::bfloat16PairsForHost()
                 ? "float32 FMAs on bfloat16-rounded operands"
             : cnnc::codegen::hostHasBfloat16Dot()
                 ? "bfloat16 pairs with vdpbf16ps"
                 : "bfloat16 pairs with two float32 FMAs (CNNC_BF16_PAIRS=1)");
  fmt::print("f32/bf16: the median ratio of {} alternating pairs of runs "
             "on {} threads\n",
             std::max<int64_t>(o.repeats, 1), maxThreads);
  fmt::print("\n{:<11} {:>5} {:>9} {:>9} {:>8} {:>7} {:>9} {:>9} {:>8} "
             "{:>9} {:>8}\n",
             "model", "batch", "GFLOP/st", "1t ms/st",
             fmt::format("{}t ms/st", maxThreads), "% peak", "torch ms",
             "(threads)", "speedup", "bf16 ms", "f32/bf16");
  for (const SuiteModel &m : kSuite) {
    Options mo = o;
    mo.model = mo.work.model = std::string(CNNC_SOURCE_DIR "/models/") + m.file;
    std::map<int64_t, TrainResult> r;
    for (int64_t t : o.threads)
      r[t] = runTrain(mo, m.batch, t, false, 0);
    // mixed_bfloat16 on all threads (the model's own policy above). The
    // ratio is the median over pairs of runs, float32 then mixed_bfloat16,
    // the first pair the runs above: on a shared host the speed drifts
    // between two runs seconds apart.
    Options bo = mo;
    bo.work.dtypePolicy = "mixed_bfloat16";
    TrainResult bf16 = runTrain(bo, m.batch, maxThreads, false, 0);
    std::vector<double> ratios;
    if (r[maxThreads].ok && bf16.ok) {
      ratios.push_back(r[maxThreads].msPerStep / bf16.msPerStep);
      for (int64_t i = 1; i < o.repeats; ++i) {
        TrainResult f = runTrain(mo, m.batch, maxThreads, false, 0);
        TrainResult b = runTrain(bo, m.batch, maxThreads, false, 0);
        if (f.ok && b.ok)
          ratios.push_back(f.msPerStep / b.msPerStep);
      }
    }
    double torchBest = 0;
    int64_t torchThreads = 0;
    if (!python.empty()) {
      ProcessResult p = runProcess(
          {python, script, "--model", m.torch, "--data", dataDir, "--threads",
           joinList(o.threads), "--batch-sizes", std::to_string(m.batch),
           "--steps", std::to_string(o.torchSteps), "--repeats",
           std::to_string(o.repeats)});
      for (int64_t t : o.threads) {
        double ms = fieldNumber(
            p.out, fmt::format("result train threads={} batch={} ", t, m.batch),
            "ms_per_step");
        if (ms > 0 && (torchBest == 0 || ms < torchBest)) {
          torchBest = ms;
          torchThreads = t;
        }
      }
    }
    const TrainResult &one = r[o.threads.front()], &all = r[maxThreads];
    if (!all.ok) {
      fmt::print("{:<11} {:>5} failed\n", m.torch, m.batch);
      continue;
    }
    double best = all.msPerStep;
    for (auto &[t, tr] : r)
      if (tr.ok)
        best = std::min(best, tr.msPerStep);
    double gflops = all.flops / (all.msPerStep * 1e-3) / 1e9;
    fmt::print("{:<11} {:>5} {:>9.3f} {:>9.3f} {:>8.3f} {:>6.1f}% {:>9} {:>9} "
               "{:>8} {:>9} {:>8}\n",
               m.torch, m.batch, all.flops / 1e9, one.ok ? one.msPerStep : 0.0,
               all.msPerStep, 100 * gflops / peakOf(maxThreads),
               torchBest > 0 ? fmt::format("{:.3f}", torchBest) : "-",
               torchBest > 0 ? fmt::format("({})", torchThreads) : "",
               torchBest > 0 ? fmt::format("{:.2f}x", torchBest / best) : "-",
               bf16.ok ? fmt::format("{:.3f}", bf16.msPerStep) : "-",
               ratios.empty() ? "-" : fmt::format("{:.2f}x", median(ratios)));
    std::fflush(stdout);
  }
  std::error_code ec;
  fs::remove_all(cacheDir, ec);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parseArgs(argc, argv, o))
    return 2;
  if (o.child == "train")
    return runTrainWorkload(o.work);
  if (o.child == "compile")
    return runCompileWorkload(o.work);
  if (!o.child.empty()) {
    fmt::print(stderr, "cnnc-bench: error: unknown child '{}'\n", o.child);
    return 2;
  }
  return o.suite ? runSuite(o) : runBench(o);
}
