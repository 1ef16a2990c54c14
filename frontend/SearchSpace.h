// Hyper-parameter search spaces in a DSL file: choice(...), int_range(...),
// uniform(...) and log_uniform(...) wherever a value is written, and the
// `tune` statement. A search is run by source substitution: each trial's
// text has every space replaced by one value and the tune statement
// removed, and is then an ordinary model for parseProgram (docs/dsl.md,
// "Hyper-parameter search").
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

struct SearchSpace {
  enum class Kind { Choice, IntRange, Uniform, LogUniform };
  Kind kind = Kind::Choice;
  // For tables and CSV headers: the argument's name and the statement's
  // line, "units@7" (a second space of one argument: "kernel_size@7.2").
  std::string name;
  SourceLoc loc;                    // the call's name
  size_t begin = 0, end = 0;        // the call's bytes in the source
  std::vector<std::string> choices; // Choice: each value as written
  int64_t lo = 0, hi = 0, step = 1; // IntRange: lo, lo+step, ... <= hi
  double low = 0, high = 0;         // Uniform, LogUniform: [low, high)

  // The number of values of a finite space (choice, int_range); 0 for a
  // continuous one.
  uint64_t size() const;
  // The text of value `index` (< size()) of a finite space.
  std::string valueAt(uint64_t index) const;
};

// A double as DSL text that reads back as the same double: the shortest
// round-trip spelling, with ".0" added when it would read as an integer.
std::string formatReal(double x);

enum class TuneStrategy { Random, Grid, Hyperband };
enum class TuneObjective { ValAccuracy, ValLoss };

struct TuneSpec {
  SourceLoc loc;
  size_t begin = 0, end = 0; // the statement's bytes (without the newline)
  TuneStrategy strategy = TuneStrategy::Random;
  TuneObjective objective = TuneObjective::ValAccuracy;
  // random: the number of trials; grid and hyperband: a cap (0: none).
  int64_t trials = 0;
  // Caps the fit statement's epochs (0: no cap); hyperband: the epochs of
  // its longest trials (required).
  int64_t maxEpochs = 0;
  int64_t factor = 3;              // hyperband: KerasTuner's reduction factor
  int64_t hyperbandIterations = 1; // hyperband: sweeps over all brackets
  uint64_t seed = 0;
};

struct SearchProgram {
  std::string filename;
  std::string source;
  std::vector<SearchSpace> spaces; // in source order
  std::optional<TuneSpec> tune;
};

// Exactly one of the two is set.
struct SearchResult {
  std::optional<SearchProgram> program;
  std::optional<Diagnostic> error;
};

// Finds the spaces and the tune statement and checks their syntax and
// domains (the values themselves are checked by checkCombinations). A file
// without either gives a program with none.
SearchResult parseSearch(std::string_view source, const std::string &filename);

// The source with space i replaced by values[i] and the tune statement
// removed (its line left empty, so line numbers stay).
std::string instantiate(const SearchProgram &p,
                        const std::vector<std::string> &values);

// "units@7=512, rate@9=0.5".
std::string describeValues(const SearchProgram &p,
                           const std::vector<std::string> &values);

// Random search: trial i's values, a pure function of (seed, i). Trial i
// draws from SplitMix64 seeded with mix64(seed + (i + 1) * kSplitMixGamma),
// one draw per space in source order: choice and int_range take value
// below(size()); uniform takes low + (high - low) * u and log_uniform
// exp(log(low) + (log(high) - log(low)) * u) with u = uniform(), both kept
// below high.
std::vector<std::string> randomTrial(const SearchProgram &p, uint64_t seed,
                                     uint64_t i);

// Grid search over finite spaces: the number of combinations (saturating at
// UINT64_MAX), and combination i in lexicographic order, the first space
// outermost.
uint64_t gridSize(const SearchProgram &p);
std::vector<std::string> gridTrial(const SearchProgram &p, uint64_t i);

// Hyperband as Keras Tuner runs it (keras_tuner/tuners/hyperband.py): each
// iteration runs brackets hyperbandBrackets(t) - 1 down to 0; bracket b has
// b + 1 rounds; round r trains hyperbandSize(t, b, r) trials up to epoch
// hyperbandEpochs(t, b, r). Round 0's trials are fresh random draws; round
// r > 0's are the best of round r - 1, each continuing from its
// predecessor's best weights. Computed in doubles exactly as Keras Tuner
// computes them, so the plans agree.
int64_t hyperbandBrackets(const TuneSpec &t);
int64_t hyperbandSize(const TuneSpec &t, int64_t bracket, int64_t round);
int64_t hyperbandEpochs(const TuneSpec &t, int64_t bracket, int64_t round);
// The trials of a whole hyperband search (every iteration, bracket and
// round), before the tune statement's trials= cap.
uint64_t hyperbandTrials(const TuneSpec &t);

// Checks every combination of the spaces' values (uniform and log_uniform:
// their lowest and highest values) by parsing and lowering it, at most
// kMaxCheckedCombinations of them (above that, as many drawn with `seed`).
// The first failure's diagnostic, its message ending "(with units@7=512)".
inline constexpr uint64_t kMaxCheckedCombinations = 4096;
std::optional<Diagnostic> checkCombinations(const SearchProgram &p,
                                            uint64_t seed);

} // namespace cnnc::frontend
