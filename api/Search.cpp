// cnnc::Search: the frontend's search spaces and tune statement
// (frontend/SearchSpace.h) behind the public header.
#include "api/Internal.h"
#include "frontend/SearchSpace.h"
#include "support/TextFile.h"

#include <fmt/format.h>

namespace cnnc {

// The one way to build a Search (its constructor is private).
struct SearchAccess {
  static Search make(std::unique_ptr<Search::Impl> impl) {
    return Search(std::move(impl));
  }
};

namespace {
Result<Search> fromParsed(frontend::SearchResult parsed) {
  if (parsed.error)
    return Status(api::toDiagnostic(*parsed.error));
  auto impl = std::make_unique<Search::Impl>();
  impl->program = *std::move(parsed.program);
  for (const frontend::SearchSpace &s : impl->program.spaces)
    impl->names.push_back(s.name);
  if (const auto &t = impl->program.tune) {
    TuneSettings &s = impl->settings;
    s.present = true;
    s.strategy = t->strategy == frontend::TuneStrategy::Grid
                     ? TuneStrategy::Grid
                 : t->strategy == frontend::TuneStrategy::Hyperband
                     ? TuneStrategy::Hyperband
                     : TuneStrategy::Random;
    s.factor = t->factor;
    s.hyperbandIterations = t->hyperbandIterations;
    s.minimizeLoss = t->objective == frontend::TuneObjective::ValLoss;
    s.trials = t->trials;
    s.maxEpochs = t->maxEpochs;
    s.seed = t->seed;
  }
  return SearchAccess::make(std::move(impl));
}
} // namespace

Search::Search(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Search::Search(Search &&) noexcept = default;
Search &Search::operator=(Search &&) noexcept = default;
Search::~Search() = default;

Result<Search> Search::fromString(const std::string &source,
                                  const std::string &name) {
  return fromParsed(frontend::parseSearch(source, name));
}

Result<Search> Search::fromFile(const std::string &path) {
  auto text = support::readTextFile(path, "a model file");
  if (!text.ok())
    return Status(
        fmt::format("{}: {}", path, std::string(text.status().message())));
  return fromParsed(frontend::parseSearch(*text, path));
}

const std::vector<std::string> &Search::spaceNames() const {
  return impl_->names;
}
const TuneSettings &Search::settings() const { return impl_->settings; }

uint64_t Search::trialCount() const {
  const TuneSettings &s = impl_->settings;
  if (s.strategy == TuneStrategy::Random)
    return static_cast<uint64_t>(s.trials);
  uint64_t all = s.strategy == TuneStrategy::Grid
                     ? frontend::gridSize(impl_->program)
                     : frontend::hyperbandTrials(*impl_->program.tune);
  return s.trials > 0 ? std::min<uint64_t>(all, s.trials) : all;
}

std::vector<std::string> Search::trialValues(uint64_t i) const {
  const TuneSettings &s = impl_->settings;
  return s.strategy == TuneStrategy::Grid
             ? frontend::gridTrial(impl_->program, i)
             : frontend::randomTrial(impl_->program, s.seed, i);
}

std::string Search::instantiate(const std::vector<std::string> &values) const {
  return frontend::instantiate(impl_->program, values);
}

std::string Search::describe(const std::vector<std::string> &values) const {
  return frontend::describeValues(impl_->program, values);
}

Status Search::check() const {
  if (auto error =
          frontend::checkCombinations(impl_->program, impl_->settings.seed))
    return Status(api::toDiagnostic(*error));
  return Status();
}

} // namespace cnnc
