#!/usr/bin/env bash
# Runs one libFuzzer harness (tests/fuzz) for SECONDS, building build-asan/
# first if needed (scripts/sanitize.sh --build-only).
#   scripts/fuzz.sh dsl|ir|safetensors|idx|image|backup|journal SECONDS [libFuzzer flags...]
# The committed corpus (tests/fuzz/corpus/TARGET) is copied to a scratch
# directory, so fuzzing never changes it; set FUZZ_WORK=DIR to keep and grow
# a corpus in DIR across runs instead. A crash input is saved under
# build-asan/fuzz-artifacts/TARGET/ and the exit status is non-zero; to keep
# it as a regression test, copy it to tests/fuzz/regressions/TARGET/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-asan"
if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh dsl|ir|safetensors|idx|image|backup|journal SECONDS [flags...]" >&2
  exit 1
fi
target=$1 seconds=$2
shift 2
# Inputs larger than the biggest useful one only slow the search down; the
# IR seeds are printed training graphs of a few KB.
case "$target" in
dsl) max_len=4096 ;;
ir) max_len=16384 ;;
safetensors | idx) max_len=4096 ;;
# Small images: seeds are under 1 KB, and bigger inputs mostly add pixels.
image) max_len=8192 ;;
# A seed backup is 3.5 KB; journals are small JSON.
backup) max_len=8192 ;;
journal) max_len=4096 ;;
*)
  echo "fuzz.sh: unknown target '$target' (dsl, ir, safetensors, idx, image, backup, journal)" >&2
  exit 1
  ;;
esac

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-19/bin/llvm-symbolizer}

if [ ! -f "$build/build.ninja" ]; then
  "$root/scripts/sanitize.sh" --build-only
else
  nice ninja -C "$build" "fuzz_$target" >/dev/null
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ -n "${FUZZ_WORK:-}" ]; then
  corpus=$FUZZ_WORK
  mkdir -p "$corpus"
else
  corpus=$scratch/corpus
  mkdir -p "$corpus"
fi
cp -n "$root/tests/fuzz/corpus/$target"/* "$corpus"/
artifacts=$build/fuzz-artifacts/$target
mkdir -p "$artifacts"

log=$scratch/log
status=0
nice -n 19 "$build/tests/fuzz/fuzz_$target" "$corpus" \
  -dict="$root/tests/fuzz/$target.dict" -max_len=$max_len \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" 2>"$log" ||
  status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
if [ "$status" -ne 0 ]; then
  tail -n 80 "$log" >&2
  echo "fuzz.sh: fuzz_$target failed (status $status); inputs in $artifacts" >&2
  exit "$status"
fi
echo "fuzz_$target: ${execs:-?} executions in $seconds s (${rate:-?} exec/s)," \
  "corpus $(find "$corpus" -type f | wc -l) files"
