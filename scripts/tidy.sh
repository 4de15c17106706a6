#!/usr/bin/env bash
# Runs clang-tidy-14 (checks in .clang-tidy) over the C++ files of some folders.
#   scripts/tidy.sh                    engine common client tools server protocol persistence
#   scripts/tidy.sh engine tools       just those folders
#   TIDY_BUILD_DIR=build/x scripts/tidy.sh    another compile database (default build/release)
# Slow (a few seconds a file), so not part of .ci/run. It runs one file at a
# time under `nice`, so it can share the machine with a build. Each .cc and .h
# is checked once as the main file (a header is parsed on its own, with the
# flags of its folder's sources), so every finding is printed once.
# Exits 1 if clang-tidy reports any warning or error.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

CLANG_TIDY="${CLANG_TIDY:-clang-tidy-14}"
build_dir="${TIDY_BUILD_DIR:-build/release}"
if [ $# -gt 0 ]; then
  folders=("$@")
else
  folders=(engine common client tools server protocol persistence)
fi
for d in "${folders[@]}"; do
  if [ ! -d "$d" ]; then echo "tidy: no folder $d" >&2; exit 2; fi
done

if ! command -v "$CLANG_TIDY" >/dev/null; then bash scripts/setup.sh; fi
if [ ! -f "$build_dir/compile_commands.json" ]; then
  if [ "$build_dir" != build/release ]; then
    echo "tidy: no $build_dir/compile_commands.json" >&2
    exit 2
  fi
  cmake --preset release >/dev/null
fi
# The sources include the generated protobuf headers: make them if missing.
if [ ! -f "$build_dir/protocol/seatlock.pb.h" ] || [ ! -f "$build_dir/persistence/wal.pb.h" ]; then
  cmake --build "$build_dir" -j1 --target seatlock_protocol seatlock_persistence
fi

# Tracked files and new ones not yet added (but not ignored ones).
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  "${folders[@]/%//*.cc}" "${folders[@]/%//*.h}" | sort -u)

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
findings=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  # Headers are checked as main files of their own, so no header filter here.
  nice -n 10 "$CLANG_TIDY" -p "$build_dir" --quiet --header-filter='^$' "$root/$f" >"$log" 2>&1 || true
  n="$(grep -cE '(warning|error): ' "$log" || true)"
  if [ "$n" -gt 0 ]; then
    grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" || true
    findings=$((findings + n))
  fi
done

if [ "$findings" -gt 0 ]; then
  echo "tidy: $findings findings in ${#files[@]} files (${folders[*]})"
  exit 1
fi
echo "tidy: ${#files[@]} files clean (${folders[*]})"
