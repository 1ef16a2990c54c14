// libFuzzer harness for the tune journal (api/TuneJournal.cpp,
// docs/formats.md "Tune journal"): the bytes as DIR/journal.json, read for
// a fixed search identity, then written back.
//
// Defects: an error that is not one line naming the file; a journal that
// reads but whose rewrite does not read back, or reads back to another
// journal (writing it again gives other bytes); results.csv that throws.
#include "FuzzCheck.h"
#include "ScratchDir.h"

#include "api/TuneJournal.h"

#include <cstdint>
#include <string>

using namespace cnnc;

namespace {

// The identity of the seed journals (tests/fuzz/corpus/journal): a fuzzed
// journal must match it to reach the trials.
api::TuneIdentity identity() {
  api::TuneIdentity id;
  id.fields = {{"cnnc_version", "0.1.0"},
               {"model", "0123456789abcdef"},
               {"strategy", "hyperband"},
               {"threads_per_trial", "2"}};
  return id;
}

const fuzz::ScratchDir &scratch() {
  static const fuzz::ScratchDir dir("journal");
  return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string in = scratch().fresh("in");
  fuzz::ScratchDir::write(in + "/journal.json", data, size);
  Result<api::TuneJournal> j = api::readTuneJournal(in, identity());
  if (!j.ok()) {
    std::string m = j.status().message();
    CNNC_FUZZ_CHECK(fuzz::isOneLine(m), m);
    CNNC_FUZZ_CHECK(m.rfind(in + "/journal.json: ", 0) == 0, m);
    return 0;
  }
  // Written back, it must read back to itself.
  std::string once = scratch().fresh("once"), twice = scratch().fresh("twice");
  Status w = api::writeTuneJournal(once, *j);
  CNNC_FUZZ_CHECK(w.ok(), w.message());
  Result<api::TuneJournal> again = api::readTuneJournal(once, identity());
  CNNC_FUZZ_CHECK(again.ok(),
                  again.status().message() + "\n" +
                      fuzz::ScratchDir::read(once + "/journal.json"));
  w = api::writeTuneJournal(twice, *again);
  CNNC_FUZZ_CHECK(w.ok(), w.message());
  std::string a = fuzz::ScratchDir::read(once + "/journal.json"),
              b = fuzz::ScratchDir::read(twice + "/journal.json");
  CNNC_FUZZ_CHECK(a == b, a + "\n----\n" + b);

  std::vector<TrialResult> trials;
  for (const auto &[number, t] : j->trials)
    trials.push_back(t);
  for (bool hyperband : {false, true})
    (void)api::tuneResultsCsv({"filters@3", "rate@6"}, hyperband,
                              "val_accuracy", trials);
  return 0;
}
