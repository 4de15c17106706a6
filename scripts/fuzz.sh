#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/fuzzing.md) with clang-14, ASan and
# UBSan into build/fuzz, then runs each for FUZZ_SECONDS (default 45) from a
# copy of its seed corpus (fuzz/corpus/<target>/; the committed seeds are
# never changed). Fails on any crash, broken invariant, leak, timeout (a
# single input over 10 s) or out-of-memory (2 GB RSS, 1 GB in one malloc);
# the failing input is kept in build/fuzz/artifacts/ and its reproduction
# command printed. CI (.ci/run) runs it after the lint checks.
#   scripts/fuzz.sh                    every target, 45 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh wal_fuzzer
# FUZZ_JOBS sets the build's parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-45}"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=(frame_fuzzer request_fuzzer wal_fuzzer room_fuzzer)
fi

bash scripts/setup.sh
# Line tables only (-g1): enough for a crash report's file:line, and a
# quicker build than full debug info.
cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DSEATLOCK_FUZZ=ON \
  -DSEATLOCK_BUILD_TESTS=OFF -DSEATLOCK_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/fuzz -j "${FUZZ_JOBS:-2}" --target "${targets[@]}"

artifacts="$PWD/build/fuzz/artifacts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  if [ -d "fuzz/corpus/$t" ]; then cp "fuzz/corpus/$t"/* "$work/$t/"; fi
  echo "== $t for ${seconds} s"
  if build/fuzz/fuzz/"$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t-" "$work/$t" >"$work/$t.log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/$t.log")
    speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$work/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1)
    echo "   ok: ${runs} runs, ${speed} exec/s, ${cov}"
  else
    failed+=("$t")
    echo "   FAILED; the end of its log:"
    tail -n 60 "$work/$t.log"
    echo "   reproduce: build/fuzz/fuzz/$t $(ls -t "$artifacts/$t"-* 2>/dev/null | head -1)"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a failure"
