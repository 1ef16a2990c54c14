#include "api/TuneJournal.h"
#include "api/Internal.h"
#include "support/AtomicFile.h"
#include "support/Text.h"
#include "support/TextFile.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using nlohmann::json;

namespace cnnc::api {

namespace {

constexpr const char *kFormat = "cnnc tune journal";
constexpr int kVersion = 1;

std::string journalPath(const std::string &dir) {
  return (fs::path(dir) / "journal.json").string();
}

json toJson(const TrialResult &t) {
  json j = {{"trial", t.number},         {"values", t.values},
            {"bracket", t.bracket},      {"round", t.round},
            {"continues", t.continues},  {"initial_epoch", t.initialEpoch},
            {"epochs", t.epochs},        {"epochs_run", t.epochsRun},
            {"best_epoch", t.bestEpoch}, {"error", t.error},
            {"seconds", t.seconds}};
  // JSON has no NaN; a trial without a finite score is a failed one.
  j["objective"] = t.objective ? json(*t.objective) : json(nullptr);
  return j;
}

// The reader of one journal entry; `why` is set on the first problem.
struct Reader {
  const json &j;
  std::string &why;

  const json *field(const char *name, bool (json::*is)() const noexcept,
                    const char *type) {
    if (!why.empty())
      return nullptr;
    auto it = j.find(name);
    if (it == j.end() || !((*it).*is)()) {
      why = fmt::format("'{}' is missing or not {}", name, type);
      return nullptr;
    }
    return &*it;
  }
  int64_t integer(const char *name) {
    const json *v = field(name, &json::is_number_integer, "an integer");
    return v ? v->get<int64_t>() : 0;
  }
  double number(const char *name) {
    const json *v = field(name, &json::is_number, "a number");
    return v ? v->get<double>() : 0;
  }
  std::string string(const char *name) {
    const json *v = field(name, &json::is_string, "a string");
    return v ? v->get<std::string>() : "";
  }
};

bool fromJson(const json &j, TrialResult &t, std::string &why) {
  if (!j.is_object()) {
    why = "a trial is not an object";
    return false;
  }
  Reader r{j, why};
  t.number = r.integer("trial");
  t.bracket = r.integer("bracket");
  t.round = r.integer("round");
  t.continues = r.integer("continues");
  t.initialEpoch = r.integer("initial_epoch");
  t.epochs = r.integer("epochs");
  t.epochsRun = r.integer("epochs_run");
  t.bestEpoch = r.integer("best_epoch");
  t.error = r.string("error");
  t.seconds = r.number("seconds");
  if (const json *v = r.field("values", &json::is_array, "an array"))
    for (const json &e : *v) {
      if (!e.is_string()) {
        why = "a value is not a string";
        return false;
      }
      t.values.push_back(e.get<std::string>());
    }
  auto o = j.find("objective");
  if (why.empty() && (o == j.end() || !(o->is_null() || o->is_number())))
    why = "'objective' is missing or not a number or null";
  if (!why.empty())
    return false;
  if (o->is_number())
    t.objective = o->get<double>();
  if (t.number < 1) {
    why = fmt::format("trial number {} is not positive", t.number);
    return false;
  }
  return true;
}

} // namespace

Result<TuneJournal> readTuneJournal(const std::string &dir,
                                    const TuneIdentity &expected) {
  TuneJournal journal;
  journal.identity = expected;
  std::string path = journalPath(dir);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec)))
    return journal;
  auto text = support::readTextFile(path, "a tune journal");
  if (!text.ok())
    return Status(
        fmt::format("{}: {}", path, std::string(text.status().message())));
  auto bad = [&](const std::string &why) {
    return Status(fmt::format("{}: not a tune journal cnnc can continue "
                              "({}); delete {} to start the search over",
                              path, why, dir));
  };
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return bad("not a JSON object");
  std::string why;
  Reader r{j, why};
  if (r.string("format") != kFormat || !why.empty())
    return bad(why.empty() ? "another format" : why);
  int64_t version = r.integer("version");
  if (!why.empty() || version != kVersion)
    return bad(why.empty() ? fmt::format("format version {}", version) : why);
  const json *identity = r.field("identity", &json::is_object, "an object");
  const json *trials = r.field("trials", &json::is_array, "an array");
  if (!identity || !trials)
    return bad(why);
  for (const auto &[name, value] : expected.fields) {
    auto it = identity->find(name);
    std::string found =
        it != identity->end() && it->is_string() ? it->get<std::string>() : "";
    if (found != value)
      return Status(fmt::format(
          "{}: the search there was run with another {} ({} there, {} now); "
          "use another --tune-dir, or delete {} to start over",
          path, name, found.empty() ? "none" : support::quoteForMessage(found),
          support::quoteForMessage(value), dir));
  }
  for (const json &e : *trials) {
    TrialResult t;
    if (!fromJson(e, t, why))
      return bad(why);
    t.fromJournal = true;
    if (!journal.trials.emplace(t.number, std::move(t)).second)
      return bad(fmt::format("trial {} appears twice", e["trial"].dump()));
  }
  return journal;
}

Status writeTuneJournal(const std::string &dir, const TuneJournal &journal) {
  json identity = json::object();
  for (const auto &[name, value] : journal.identity.fields)
    identity[name] = value;
  json trials = json::array();
  for (const auto &[number, t] : journal.trials)
    trials.push_back(toJson(t));
  json j = {{"format", kFormat},
            {"version", kVersion},
            {"identity", identity},
            {"trials", trials}};
  return toStatus(
      support::writeFileAtomically(journalPath(dir), j.dump(1) + "\n"));
}

std::string tuneResultsCsv(const std::vector<std::string> &spaceNames,
                           bool hyperband, const std::string &objective,
                           const std::vector<TrialResult> &trials) {
  std::string out = "trial";
  for (const std::string &name : spaceNames)
    out.append(",").append(csvField(name));
  if (hyperband)
    out += ",bracket,round,continues,initial_epoch";
  out += fmt::format(",epochs,{},seconds\n", objective);
  for (const TrialResult &t : trials) {
    out += std::to_string(t.number);
    for (const std::string &v : t.values)
      out.append(",").append(csvField(v));
    if (hyperband)
      out += fmt::format(",{},{},{},{}", t.bracket, t.round,
                         t.continues ? std::to_string(t.continues) : "",
                         t.initialEpoch);
    out += fmt::format(",{},{},{:.3f}\n", t.initialEpoch + t.epochsRun,
                       t.objective ? fmt::format("{}", *t.objective) : "",
                       t.seconds);
  }
  return out;
}

} // namespace cnnc::api
