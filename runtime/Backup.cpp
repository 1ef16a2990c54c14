#include "runtime/Backup.h"
#include "support/Text.h"

#include "support/AtomicFile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sys/stat.h>

namespace cnnc::runtime {

namespace {

using nlohmann::json;

constexpr const char *kFormat = "cnnc-backup";
constexpr const char *kFormatVersion = "1";
constexpr const char *kStorePrefix = "store/";
constexpr const char *kCallbackPrefix = "callback/";

// Numbers as text that reads back to the same bits (NaN and infinities
// included, which JSON numbers cannot hold).
std::string exact(double v) { return fmt::format("{}", v); }

// Callback state may hold any bytes (csv_logger keeps the file's old text);
// metadata must be UTF-8, so strings travel as hex.
std::string toHex(const std::string &s) {
  std::string out;
  out.reserve(2 * s.size());
  for (unsigned char c : s)
    out += fmt::format("{:02x}", c);
  return out;
}

std::optional<std::string> fromHex(const std::string &s) {
  if (s.size() % 2)
    return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// Reads what toJson wrote; any deviation throws, and readBackup reports it
// as a malformed backup.
struct Reader {
  const json &j;
  std::string str(const char *key) const {
    return j.at(key).get<std::string>();
  }
  double num(const char *key) const { return parseDouble(str(key)); }
  int64_t integer(const char *key) const { return parseInt(str(key)); }

  static double parseDouble(const std::string &s) {
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0')
      throw std::runtime_error("bad number");
    return v;
  }
  static int64_t parseInt(const std::string &s) {
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno || v < 0)
      throw std::runtime_error("bad count");
    return v;
  }
};

json recordToJson(const EpochRecord &r) {
  return json::array({std::to_string(r.epoch), exact(r.loss), exact(r.accuracy),
                      r.hasValidation ? "1" : "0", exact(r.valLoss),
                      exact(r.valAccuracy), exact(r.seconds),
                      exact(r.learningRate)});
}

EpochRecord recordFromJson(const json &j) {
  if (!j.is_array() || j.size() != 8)
    throw std::runtime_error("bad epoch record");
  auto s = [&](size_t i) { return j.at(i).get<std::string>(); };
  EpochRecord r;
  int64_t epoch = Reader::parseInt(s(0));
  if (epoch > std::numeric_limits<int>::max())
    throw std::runtime_error("bad epoch");
  r.epoch = static_cast<int>(epoch);
  r.loss = Reader::parseDouble(s(1));
  r.accuracy = Reader::parseDouble(s(2));
  r.hasValidation = s(3) == "1";
  r.valLoss = Reader::parseDouble(s(4));
  r.valAccuracy = Reader::parseDouble(s(5));
  r.seconds = Reader::parseDouble(s(6));
  r.learningRate = Reader::parseDouble(s(7));
  return r;
}

json stateToJson(const TrainingBackup &b) {
  json history = json::array();
  for (const EpochRecord &r : b.history)
    history.push_back(recordToJson(r));
  json callbacks = json::array();
  for (const CallbackState &c : b.callbacks) {
    json values = json::object();
    for (const auto &[k, v] : c.values)
      values[k] = toHex(v);
    callbacks.push_back(
        {{"values", values},
         {"best_weights", std::to_string(c.bestWeights.size())}});
  }
  return {{"epoch", std::to_string(b.epoch)},
          {"step", std::to_string(b.step)},
          {"finished", b.finished ? "1" : "0"},
          {"global_step", std::to_string(b.globalStep)},
          {"global_epoch", std::to_string(b.globalEpoch)},
          {"loss_sum", exact(b.lossSum)},
          {"correct", exact(b.correct)},
          {"seconds", exact(b.seconds)},
          {"seen", std::to_string(b.seen)},
          {"learning_rate", exact(b.learningRate)},
          {"history", history},
          {"callbacks", callbacks}};
}

// Fills b's state from the "state" metadata and the tensors.
void stateFromJson(const json &j, std::vector<NamedTensor> tensors,
                   TrainingBackup &b) {
  Reader r{j};
  b.epoch = r.integer("epoch");
  b.step = r.integer("step");
  b.finished = r.str("finished") == "1";
  b.globalStep = r.integer("global_step");
  b.globalEpoch = r.integer("global_epoch");
  b.lossSum = r.num("loss_sum");
  b.correct = r.num("correct");
  b.seconds = r.num("seconds");
  b.seen = r.integer("seen");
  b.learningRate = static_cast<float>(r.num("learning_rate"));
  for (const json &e : j.at("history"))
    b.history.push_back(recordFromJson(e));
  std::map<std::string, NamedTensor> byName;
  for (NamedTensor &t : tensors) {
    std::string name = t.name;
    byName.emplace(std::move(name), std::move(t));
  }
  size_t index = 0;
  for (const json &c : j.at("callbacks")) {
    CallbackState state;
    for (const auto &[k, v] : c.at("values").items()) {
      auto text = fromHex(v.get<std::string>());
      if (!text)
        throw std::runtime_error("bad callback value");
      state.values[k] = *text;
    }
    int64_t n = Reader::parseInt(c.at("best_weights").get<std::string>());
    for (int64_t k = 0; k < n; ++k) {
      auto it = byName.find(fmt::format("{}{}/{}", kCallbackPrefix, index, k));
      if (it == byName.end())
        throw std::runtime_error("missing callback weights");
      state.bestWeights.push_back(std::move(it->second.data));
      byName.erase(it);
    }
    b.callbacks.push_back(std::move(state));
    ++index;
  }
  for (auto &[name, t] : byName) {
    if (name.rfind(kStorePrefix, 0) != 0)
      throw std::runtime_error("unexpected tensor " + name);
    t.name = name.substr(std::strlen(kStorePrefix));
    b.tensors.push_back(std::move(t));
  }
}

} // namespace

std::string recipeText(const ir::TrainingSpec &spec) {
  const ir::OptimizerSpec &o = spec.optimizer;
  std::string t = fmt::format(
      "loss {} accuracy {}\noptimizer {} lr {} momentum {} nesterov {} "
      "beta {} {} rho {} epsilon {}\n",
      static_cast<int>(spec.loss), spec.accuracyMetric,
      static_cast<int>(o.kind), exact(o.learningRate), exact(o.momentum),
      o.nesterov, exact(o.beta1), exact(o.beta2), exact(o.rho),
      exact(o.epsilon));
  if (const auto &s = o.schedule)
    t += fmt::format("schedule {} {} {} {} {} {} {} {} {} [{}] [{}]\n",
                     ir::scheduleName(s->kind), exact(s->initialLearningRate),
                     s->decaySteps, exact(s->alpha), s->hasWarmupTarget,
                     exact(s->warmupTarget), s->warmupSteps,
                     exact(s->decayRate), s->staircase,
                     fmt::join(s->boundaries, " "), fmt::join(s->values, " "));
  const ir::FitSpec &f = spec.fit;
  auto folder = [](const ir::ImageFolderSpec &i) {
    return fmt::format("{} {}x{} {} {} {} {}", i.directory, i.height, i.width,
                       ir::colorModeName(i.colorMode),
                       ir::interpolationName(i.interpolation),
                       i.cropToAspectRatio, exact(i.validationSplit));
  };
  t += fmt::format("fit {} {} [{}] epochs {} batch {} validation {} [{}] "
                   "shuffle {} seed {}\n",
                   ir::datasetName(f.dataset), f.idxPrefix, folder(f.images),
                   f.epochs, f.batchSize, static_cast<int>(f.validation),
                   folder(f.validationImages), f.shuffle, f.seed);
  // Only when given, so that backups written before classes existed still
  // match their recipe.
  if (!f.classes.empty())
    t += fmt::format("classes [{}]\n", fmt::join(f.classes, " "));
  for (const ir::CallbackSpec &c : f.callbacks)
    t += fmt::format("callback {} {} {} {} {} {} {} {} {} {} {} {} {} {} "
                     "{}\n",
                     ir::callbackName(c.kind), ir::monitorName(c.monitor),
                     static_cast<int>(c.mode), exact(c.minDelta), c.patience,
                     c.restoreBestWeights, c.startFromEpoch, c.path,
                     c.saveBestOnly, c.append, exact(c.factor), c.cooldown,
                     exact(c.minLr), c.saveFreq, c.deleteCheckpoint);
  return t;
}

std::string backupPath(const std::string &dir) {
  return (std::filesystem::path(dir) / "backup.safetensors").string();
}

absl::Status writeBackup(const std::string &dir, const TrainingBackup &b) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InvalidArgumentError(fmt::format(
        "{}: cannot create the backup directory: {}", dir, ec.message()));
  std::vector<NamedTensor> tensors;
  for (const NamedTensor &t : b.tensors)
    tensors.push_back({kStorePrefix + t.name, t.shape, t.data});
  for (size_t i = 0; i < b.callbacks.size(); ++i)
    for (size_t k = 0; k < b.callbacks[i].bestWeights.size(); ++k) {
      const std::vector<float> &w = b.callbacks[i].bestWeights[k];
      tensors.push_back({fmt::format("{}{}/{}", kCallbackPrefix, i, k),
                         {static_cast<int64_t>(w.size())},
                         w});
    }
  std::map<std::string, std::string> metadata = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"cnnc_version", b.identity.version},
      {"model", b.identity.model},
      {"recipe", b.identity.recipe},
      {"data", b.identity.data},
      {"threads", std::to_string(b.identity.threads)},
      {"state", stateToJson(b).dump()}};
  return writeSafetensors(backupPath(dir), tensors, metadata);
}

absl::StatusOr<std::optional<TrainingBackup>>
readBackup(const std::string &dir, const BackupIdentity &expected) {
  std::string path = backupPath(dir);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return std::nullopt;
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", path, std::strerror(errno)));
  }
  std::map<std::string, std::string> metadata;
  auto tensors = readSafetensors(path, &metadata);
  if (!tensors.ok())
    return tensors.status();
  auto meta = [&](const char *key) {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  std::string startOver =
      fmt::format("delete {} to start training from the beginning", dir);
  if (meta("format") != kFormat || meta("format_version") != kFormatVersion)
    return absl::InvalidArgumentError(
        fmt::format("{}: not a cnnc backup of format version {}; {}", path,
                    kFormatVersion, startOver));
  struct Part {
    const char *what, *key;
    std::string want;
    bool show; // small enough to quote
  };
  for (const Part &p :
       {Part{"cnnc version", "cnnc_version", expected.version, true},
        Part{"model", "model", expected.model, false},
        Part{"training recipe", "recipe", expected.recipe, false},
        Part{"training data", "data", expected.data, false},
        Part{"thread count", "threads", std::to_string(expected.threads),
             true}})
    if (meta(p.key) != p.want)
      return absl::FailedPreconditionError(fmt::format(
          "{}: the backup was made with another {}{}; {}", path, p.what,
          p.show ? fmt::format(" ({}, now {})",
                               support::quoteForMessage(meta(p.key)), p.want)
                 : "",
          startOver));
  TrainingBackup b;
  b.identity = expected;
  try {
    stateFromJson(json::parse(meta("state")), *std::move(tensors), b);
  } catch (const std::exception &e) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: malformed backup state ({}); {}", path, e.what(), startOver));
  }
  return b;
}

absl::Status removeBackup(const std::string &dir) {
  std::error_code ec;
  std::filesystem::remove(backupPath(dir), ec);
  if (ec)
    return absl::InternalError(fmt::format("{}: cannot remove the backup: {}",
                                           backupPath(dir), ec.message()));
  std::filesystem::remove(dir, ec); // only when empty; ignore otherwise
  return absl::OkStatus();
}

} // namespace cnnc::runtime
