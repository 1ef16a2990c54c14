#!/usr/bin/env bash
# Installs the Debian 12 packages cnnc builds with, if any is missing.
set -euo pipefail
packages=(g++ cmake ninja-build llvm-19-dev llvm-19-tools libfmt-dev libabsl-dev
  libgtest-dev zlib1g-dev nlohmann-json3-dev
  libpng-dev libjpeg62-turbo-dev libgif-dev # image folders (runtime/Image*.cpp)
  libopenmpi-dev openmpi-bin # mpirun -np N cnnc ... (runtime/Communicator.h)
  python3 # python3 runs lit (llvm-19-tools' lit.py) for tests/lit
  clang-19 libclang-rt-19-dev) # the sanitized and fuzzing build (scripts/sanitize.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
