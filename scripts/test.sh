#!/usr/bin/env bash
# Sets up, builds and runs every test. This is the README's second command.
#   scripts/test.sh            release build (warnings as errors) + all tests
#   scripts/test.sh asan       the same under AddressSanitizer + UBSan
#   scripts/test.sh tsan       ThreadSanitizer build; runs the threaded tests
# Extra arguments after the preset go to ctest (e.g. -R engine).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
bash scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j2
label_args=()
if [ "$preset" = "tsan" ]; then label_args=(-L threaded); fi
cd "build/$preset"
ctest --output-on-failure --no-tests=error --timeout 600 -j2 "${label_args[@]}" "$@"
