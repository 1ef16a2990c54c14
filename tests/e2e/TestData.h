// Where tests find real MNIST: the project's data/mnist (scripts/fetch-mnist.sh
// puts it there), else the shared copy beside the checkout.
#pragma once

#include <filesystem>
#include <string>

namespace cnnc::testing {

inline std::string mnistDir() {
  for (const char *dir :
       {CNNC_SOURCE_DIR "/data/mnist", CNNC_SOURCE_DIR "/../shared/data/mnist"})
    if (std::filesystem::exists(std::string(dir) +
                                "/train-images-idx3-ubyte.gz"))
      return dir;
  return "";
}

} // namespace cnnc::testing
