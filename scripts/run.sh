#!/usr/bin/env bash
# Sets up, builds and starts seatlockd in the foreground on 127.0.0.1:7400 with
# its data in ./data. This is the README's first command. Extra arguments go to
# seatlockd (see `build/release/server/seatlockd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build build/release -j2 --target seatlockd 2>/dev/null || cmake --build build/release -j2
if [ -x build/release/server/seatlockd ]; then
  mkdir -p data
  exec build/release/server/seatlockd --bind 127.0.0.1 --port 7400 --data-dir ./data "$@"
fi
echo "seatlockd is not built yet; built so far:"
find build/release -maxdepth 3 -type f -executable -newer CMakeLists.txt | sort
