#!/usr/bin/env bash
# Fails when a tracked C++ file is not clang-format clean (.clang-format: Google,
# 100 columns). Fast: .ci/run runs it first.
#   scripts/lint.sh          check every `git ls-files '*.cc' '*.h'`
#   scripts/lint.sh --fix    reformat them in place instead
# Lists each offending file and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang-format-14 exactly: another version may format the same code differently.
CLANG_FORMAT="${CLANG_FORMAT:-clang-format-14}"
if ! command -v "$CLANG_FORMAT" >/dev/null; then bash scripts/setup.sh; fi

files=()
while IFS= read -r f; do
  if [ -f "$f" ]; then files+=("$f"); fi   # skip tracked files deleted in the work tree
done < <(git ls-files '*.cc' '*.h')
if [ "${1:-}" = "--fix" ]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  echo "lint: formatted ${#files[@]} files"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  if ! "$CLANG_FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "lint: ${#bad[@]} of ${#files[@]} C++ files are not clang-format clean:"
  printf '  %s\n' "${bad[@]}"
  echo "fix with: scripts/lint.sh --fix   (or $CLANG_FORMAT -i FILE)"
  exit 1
fi
echo "lint: all ${#files[@]} C++ files are clang-format clean"
