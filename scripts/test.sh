#!/usr/bin/env bash
# Installs what is missing, builds, fetches MNIST and runs every test; then
# the sanitized build's tests and a short run of each fuzzer
# (scripts/sanitize.sh, docs/fuzzing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/scripts/fetch-mnist.sh"
cd "$root/build"
ctest --output-on-failure -j2

# The public library as an installed package: install into a temporary
# prefix, build examples/embed against it with find_package(cnnc), run it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$root/build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$root/examples/embed" -B "$tmp/embed" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/embed" >/dev/null
"$tmp/embed/embed" "$root/data/mnist"

# AddressSanitizer + UBSan build (build-asan/): unit, lit and fuzz-replay
# tests, then each libFuzzer harness for FUZZ_SECONDS (30) seconds.
"$root/scripts/sanitize.sh"
