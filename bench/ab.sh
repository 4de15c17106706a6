#!/usr/bin/env bash
# ab.sh: a same-run A/B of two seatlockd variants (two binaries, or one
# binary with two sets of flags), pinned as compare.sh --pinned pins: the
# server on core $SERVER_CPU (1), seatbench on core $LOAD_CPU (0), one shard.
# Rounds alternate which variant goes first; each run gets a fresh server and
# data dir. Prints one line per run: throughput, requests per server
# CPU-second, latency percentiles (and --verify's verdict); exits 1 if a run
# printed none of them.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/ab.sh [options] WORKLOAD [seatbench args...]

  --rounds N        rounds (default 3); each runs both variants
  --base-bin PATH   seatlockd of variant "base" (default build/release/server/seatlockd)
  --new-bin PATH    seatlockd of variant "new" (default: the same as --base-bin)
  --base-args "..." extra seatlockd flags of "base" (default none)
  --new-args "..."  extra seatlockd flags of "new" (default none)
  --duration S      seatbench --duration (default 5)
  --help            this text

WORKLOAD and the seatbench args after it go to both runs, with --client raw,
--connections 50, --warmup 1 and --server-pid (hold-confirm: --seats 2000000).
The server runs with --shards 1 --fsync=always on 127.0.0.1:$PORT (7500).

Example (the HOLD fast path on and off, same binary):
  bench/ab.sh --rounds 3 --base-args "--hold_fast_path=false" hold4 --pipeline 16
EOF
}

ROUNDS=3
BASE_BIN=build/release/server/seatlockd
NEW_BIN=""
BASE_ARGS=""
NEW_ARGS=""
DURATION=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --base-bin) BASE_BIN="$2"; shift 2 ;;
    --new-bin) NEW_BIN="$2"; shift 2 ;;
    --base-args) BASE_ARGS="$2"; shift 2 ;;
    --new-args) NEW_ARGS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --help | -h) usage; exit 0 ;;
    -*) echo "ab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
WORKLOAD="$1"
shift
NEW_BIN="${NEW_BIN:-$BASE_BIN}"
SEATBENCH="${BUILD_DIR:-build/release}/bench/seatbench"
PORT="${PORT:-7500}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
for bin in "$BASE_BIN" "$NEW_BIN" "$SEATBENCH"; do
  [[ -x "$bin" ]] || { echo "ab.sh: $bin not found; build first" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/seatlock-ab.XXXXXX)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

run() {
  local variant="$1" round="$2" bin args
  shift 2  # the rest: seatbench args
  if [[ "$variant" == base ]]; then bin="$BASE_BIN"; args="$BASE_ARGS"; else bin="$NEW_BIN"; args="$NEW_ARGS"; fi
  rm -rf "$TMP/data"
  # shellcheck disable=SC2086  # the extra flags are word-split on purpose
  taskset -c "$SERVER_CPU" "$bin" --shards 1 --bind 127.0.0.1 --port "$PORT" \
    --data-dir "$TMP/data" --fsync=always $args >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  local up=0
  for _ in $(seq 100); do
    if (echo >"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  ((up)) || { cat "$TMP/server.log" >&2; echo "ab.sh: seatlockd did not start" >&2; exit 1; }
  local extra=()
  [[ "$WORKLOAD" == hold-confirm ]] && extra+=(--seats 2000000)
  local out
  out=$(timeout 120 taskset -c "$LOAD_CPU" "$SEATBENCH" --target seatlock --host 127.0.0.1 \
    --port "$PORT" --workload "$WORKLOAD" --connections 50 --duration "$DURATION" --warmup 1 \
    --client raw --server-pid "$SERVER_PID" "${extra[@]}" "$@" 2>&1) || true
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  local summary
  summary=$(echo "$out" | grep -iE 'throughput|per server cpu|latency|verify|late' |
    sed -e 's/^ *//' | tr '\n' ' ' | tr -s ' ' || true)
  [[ -n "$summary" ]] || FAILED=1
  echo "$variant r$round: ${summary:-FAILED: $out}"
}

FAILED=0
for round in $(seq "$ROUNDS"); do
  if ((round % 2 == 1)); then order="base new"; else order="new base"; fi
  for v in $order; do run "$v" "$round" "$@"; done
done
exit "$FAILED"
