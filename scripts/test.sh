#!/usr/bin/env bash
# Sets up, builds and runs every test. This is the README's second command.
#   scripts/test.sh            release build (warnings as errors) + all tests, then
#                              the daemon tests again on the epoll backend
#   scripts/test.sh debug      Debug build (asserts on, no sanitizer) + all tests
#   scripts/test.sh asan       all tests under AddressSanitizer + UBSan (Debug: asserts on too);
#                              the epoll backend runs in its parameterized tests
#                              (Backends/...), not in a second pass
#   scripts/test.sh tsan       ThreadSanitizer build; runs the threaded tests
# The kill -9 failover soak (FailoverTest.Kill9..., run alone) does 20 rounds in
# the release run and 8 in the epoll pass and under ASan, where the same paths
# cost 3 to 5 s a round; SEATLOCK_FAILOVER_ROUNDS overrides both.
# The presets are in CMakePresets.json (configure, build and test presets of the
# same name). Extra arguments after the preset go to ctest (e.g. -R engine).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
case "$preset" in
  release | debug | asan | tsan) ;;
  *) echo "usage: scripts/test.sh [release|debug|asan|tsan] [ctest args...]" >&2; exit 2 ;;
esac
bash scripts/setup.sh
if [ "$preset" = "asan" ]; then export SEATLOCK_FAILOVER_ROUNDS="${SEATLOCK_FAILOVER_ROUNDS:-8}"; fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" "$@"
# Every daemon test again on the epoll backend (the fallback for hosts where
# io_uring is disabled), unless the caller picked tests. The etcd client and
# election tests use no event loop of ours, so they run once. The sanitizer
# runs skip this pass: their Backends/ tests already run both loops, and the
# second pass would add about a quarter to the slowest stage of CI.
if [ $# -eq 0 ] && { [ "$preset" = "release" ] || [ "$preset" = "debug" ]; }; then
  echo "== the daemon tests again with --io=epoll"
  SEATLOCK_TEST_IO=epoll SEATLOCK_FAILOVER_ROUNDS="${SEATLOCK_FAILOVER_ROUNDS:-8}" ctest --preset "$preset" -L 'threaded|integration' -E 'Inbox|EventLoopContract|EtcdClientTest|ElectionTest'
fi
