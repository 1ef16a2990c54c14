#!/usr/bin/env bash
# Builds cnnc with AddressSanitizer + UBSan and the libFuzzer harnesses
# (clang-19) into build-asan/, runs the unit, lit and fuzz-replay tests
# there (all but the `slow` MNIST training tests), then each fuzz harness
# for FUZZ_SECONDS (default 30; 0 skips fuzzing). The kernels the JIT
# compiles are not instrumented; everything cnnc compiles is.
#   scripts/sanitize.sh [--build-only]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-asan"
fuzz_seconds=${FUZZ_SECONDS:-30}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-19/bin/llvm-symbolizer}

t0=$(date +%s)
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# -O1 and line tables: the usual ASan trade-off between speed and readable
# stack traces; no NDEBUG.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DCNNC_SANITIZE=ON -DCNNC_FUZZ=ON "${launcher[@]}" >/dev/null
nice ninja -C "$build"
t1=$(date +%s)
[ "${1:-}" = "--build-only" ] && exit 0

(cd "$build" && ctest --output-on-failure -j2 -LE slow)
t2=$(date +%s)
if [ "$fuzz_seconds" -gt 0 ]; then
  for target in dsl ir safetensors idx image backup journal; do
    "$root/scripts/fuzz.sh" "$target" "$fuzz_seconds"
  done
fi
t3=$(date +%s)
echo "sanitize.sh: build $((t1 - t0)) s, tests $((t2 - t1)) s," \
  "fuzzing $((t3 - t2)) s"
