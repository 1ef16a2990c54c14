// libFuzzer harness for backup_and_restore's file (runtime/Backup.cpp,
// docs/formats.md "Backups"): the bytes as DIR/backup.safetensors, read for
// a fixed identity, then written back.
//
// Defects: an error that is not one line naming the file; a backup that
// reads but whose rewrite does not read back, or reads back to another
// backup (writing it again gives other bytes).
#include "FuzzCheck.h"
#include "ScratchDir.h"

#include "runtime/Backup.h"

#include <cstdint>
#include <string>

using namespace cnnc;

namespace {

// The identity of the seed backups (tests/fuzz/corpus/backup, written by
// a 2-epoch fit of a 170-weight model on 64 MNIST images with
// backup_and_restore and early_stopping): a fuzzed backup must match it to
// reach its state and tensors.
runtime::BackupIdentity identity() {
  runtime::BackupIdentity id;
  id.version = "0.1.0";
  id.model = "3737108f61288129";
  id.recipe = "cbbc25723d6d6f6e";
  id.data = "60000 images (limit 64), 76d911dd39341775";
  id.threads = 1;
  return id;
}

const fuzz::ScratchDir &scratch() {
  static const fuzz::ScratchDir dir("backup");
  return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string in = scratch().fresh("in");
  std::string path = runtime::backupPath(in);
  fuzz::ScratchDir::write(path, data, size);
  auto b = runtime::readBackup(in, identity());
  if (!b.ok()) {
    std::string m(b.status().message());
    CNNC_FUZZ_CHECK(fuzz::isOneLine(m), m);
    CNNC_FUZZ_CHECK(m.rfind(path + ": ", 0) == 0, m);
    return 0;
  }
  CNNC_FUZZ_CHECK(b->has_value(), "a backup file that reads as none");
  // Written back, it must read back to itself.
  std::string once = scratch().fresh("once"), twice = scratch().fresh("twice");
  absl::Status w = runtime::writeBackup(once, **b);
  CNNC_FUZZ_CHECK(w.ok(), std::string(w.message()));
  auto again = runtime::readBackup(once, identity());
  CNNC_FUZZ_CHECK(again.ok() && again->has_value(),
                  std::string(again.status().message()));
  w = runtime::writeBackup(twice, **again);
  CNNC_FUZZ_CHECK(w.ok(), std::string(w.message()));
  std::string x = fuzz::ScratchDir::read(runtime::backupPath(once)),
              y = fuzz::ScratchDir::read(runtime::backupPath(twice));
  CNNC_FUZZ_CHECK(x == y, "the rewritten backup changed when read back");
  return 0;
}
