// Image folders as Keras's image_dataset_from_directory reads them: one
// subdirectory per class, sorted by name; each class's images found
// recursively; decoded on all threads and resized to one size.
#pragma once

#include "ir/TrainingSpec.h"
#include "runtime/Idx.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cnnc::runtime {

class ThreadPool;

// The extensions Keras reads (compared case-insensitively); other files are
// skipped and counted.
bool hasImageExtension(const std::string &name);

// What the decoded-image cache key records of a file (all 0 when it could
// not be stat'ed: a dangling link, which decoding reports).
struct FileStamp {
  uint64_t size = 0, mtimeSec = 0, mtimeNsec = 0, inode = 0;
};

struct ImageFolderListing {
  std::vector<std::string> classNames; // sorted subdirectory names
  std::vector<std::string> files;      // class by class, each sorted
  std::vector<uint8_t> labels;         // index into classNames, per file
  std::vector<FileStamp> stamps;       // per file
  int64_t skipped = 0;                 // files with other extensions
};

// Lists `directory`: class directories are its subdirectories (symbolic
// links to directories count; names starting with '.' do not), walked
// recursively without following links to directories (Keras's
// follow_links=False). Errors: no class directory, a single class, a class
// without images, more than 256 classes, an unreadable directory.
// With a pool, class directories are walked in parallel.
absl::StatusOr<ImageFolderListing> listImageFolder(const std::string &directory,
                                                   ThreadPool *pool = nullptr);

// Lists image files to predict on: each path a file (taken as is, whatever
// its extension) or a directory walked recursively for files with an image
// extension, in sorted order.
absl::StatusOr<std::vector<std::string>>
listImageFiles(const std::vector<std::string> &paths);

struct ImageLoadInfo {
  int64_t skipped = 0;    // files with other extensions
  bool fromCache = false; // pixels read from the on-disk cache
  std::string cachePath;  // the cache file used or written; empty: none
};

// Decodes every image of the folder, converted to the spec's color mode and
// resized to its image_size, in the listing's order (validation_split is not
// applied: see splitImageFolder). Uses the on-disk cache (cacheDirectory())
// when its key (the options, every file's path, size and modification time)
// matches, and writes it otherwise.
absl::StatusOr<LabeledImages> loadImageFolder(const ir::ImageFolderSpec &spec,
                                              ThreadPool &pool,
                                              ImageLoadInfo *info = nullptr);

// Decodes `files` as loadImageFolder would decode a folder's images, with
// every label 0 (for prediction).
absl::StatusOr<IdxImages> loadImageFiles(const std::vector<std::string> &files,
                                         const ir::ImageFolderSpec &spec,
                                         ThreadPool &pool);

// Keras's validation_split: the images are shuffled by a permutation fixed
// by `seed` and the count, and the last floor(split * count) are the
// validation subset, the rest the training subset. An error when either
// subset would be empty.
absl::StatusOr<LabeledImages> splitImageFolder(const LabeledImages &all,
                                               double validationSplit,
                                               uint64_t seed, bool validation);

// Where the decoded-image cache lives: "images" in cnnc's cache directory
// (codegen::defaultKernelCacheDir: $CNNC_CACHE_DIR, $XDG_CACHE_HOME/cnnc or
// ~/.cache/cnnc); empty (no cache) when $CNNC_NO_CACHE is set.
std::string cacheDirectory();

} // namespace cnnc::runtime
