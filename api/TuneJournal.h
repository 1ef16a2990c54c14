// The files of a search's directory (docs/formats.md, "Tune directory"):
// the journal of finished trials, from which an interrupted search
// continues, and results.csv, written from it.
#pragma once

#include "cnnc/cnnc.h"

#include <map>
#include <string>
#include <vector>

namespace cnnc::api {

// What must match for a journal to be continued: each field on its own, so
// that a refusal names the one that differs.
struct TuneIdentity {
  std::vector<std::pair<std::string, std::string>> fields;
};

struct TuneJournal {
  TuneIdentity identity;
  std::map<int64_t, TrialResult> trials; // by number
};

// The journal in `dir`, or an empty one (with `expected` as its identity)
// when there is none. Errors: unreadable or malformed (the message names
// the file and says to delete the directory to start over), or made for
// another search (naming the field that differs).
Result<TuneJournal> readTuneJournal(const std::string &dir,
                                    const TuneIdentity &expected);
// Writes the journal atomically: a crash during the write leaves the
// previous one.
Status writeTuneJournal(const std::string &dir, const TuneJournal &journal);

// results.csv's text: a row per finished trial, by number; hyperband adds
// bracket, round, continues and initial_epoch columns. `epochs` is the last
// epoch the trial reached (initial_epoch + the epochs it ran).
std::string tuneResultsCsv(const std::vector<std::string> &spaceNames,
                           bool hyperband, const std::string &objective,
                           const std::vector<TrialResult> &trials);

} // namespace cnnc::api
