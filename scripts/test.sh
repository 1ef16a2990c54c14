#!/usr/bin/env bash
# Installs what is missing, builds, fetches MNIST and runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/scripts/fetch-mnist.sh"
cd "$root/build"
ctest --output-on-failure -j2
