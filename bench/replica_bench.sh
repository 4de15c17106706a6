#!/usr/bin/env bash
# replica_bench.sh: durable sales and holds with and without a synchronous
# replica, on this machine (docs/cluster.md, "Measured"). Runs seatbench
# hold-confirm and hold1 (--fsync always everywhere) against
#   1. a standalone seatlockd;
#   2. the primary of a group of two nodes (a real etcd on loopback), found
#      with seatbench --nodes; while hold-confirm runs, samples the replica's
#      lag with seatctl cluster; before and during hold1, replica_lag measures
#      how long a hold, a release and a sale take to show on the replica.
# Usage: bench/replica_bench.sh [DURATION_S (default 10)]
# Builds nothing: needs build/release (seatlockd, seatbench, seatctl) and etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
B=build/release
TMP=$(mktemp -d /tmp/replica_bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
BENCH=(--workload hold-confirm --connections 50 --pipeline 4 --duration "$DURATION" --warmup 1
       --seats 2000000 --client raw)
HOLD1=(--workload hold1 --connections 50 --pipeline 16 --duration "$DURATION" --warmup 1
       --seats 50000 --client raw)

echo "== standalone seatlockd (--fsync always, 2 shards)"
$B/server/seatlockd --port 27400 --shards 2 --data-dir "$TMP/solo" --max_memory 0 >"$TMP/solo.log" 2>&1 &
PIDS+=($!)
sleep 1
timeout $((DURATION + 60)) $B/bench/seatbench --port 27400 "${BENCH[@]}" | tee "$TMP/solo.txt"
echo "== standalone, hold1"
timeout $((DURATION + 60)) $B/bench/seatbench --port 27400 "${HOLD1[@]}" | tee "$TMP/solo-hold1.txt"
kill "${PIDS[-1]}"; sleep 1

echo "== group: primary + one synchronous replica (etcd on loopback)"
etcd --data-dir "$TMP/etcd" --listen-client-urls http://127.0.0.1:27379 \
  --advertise-client-urls http://127.0.0.1:27379 --listen-peer-urls http://127.0.0.1:27380 \
  --initial-advertise-peer-urls http://127.0.0.1:27380 \
  --initial-cluster default=http://127.0.0.1:27380 >"$TMP/etcd.log" 2>&1 &
PIDS+=($!)
sleep 2
for n in a b; do
  port=$([ $n = a ] && echo 27500 || echo 27600)
  $B/server/seatlockd --etcd 127.0.0.1:27379 --node_id $n --port $port --shards 2 \
    --data-dir "$TMP/$n" --max_memory 0 >"$TMP/$n.log" 2>&1 &
  PIDS+=($!)
  sleep 2
done
for i in $(seq 1 50); do
  $B/tools/seatctl cluster 127.0.0.1:27500 127.0.0.1:27600 2>/dev/null | grep -q 'synchronous replica: [ab]' && break
  sleep 0.2
done
( for i in $(seq 1 $((DURATION * 2))); do
    sleep 0.5
    $B/tools/seatctl --json cluster 127.0.0.1:27500 127.0.0.1:27600 2>/dev/null |
      python3 -c 'import json,sys
d=json.load(sys.stdin)
for n in d["nodes"]:
  for r in n.get("stats",{}).get("replicas",[]):
    print("lag", r["node_id"], r.get("lag_records"), r.get("lag_ms"))' || true
  done ) >"$TMP/lag.txt" &
LAGPID=$!
timeout $((DURATION + 60)) $B/bench/seatbench --nodes 127.0.0.1:27500,127.0.0.1:27600 "${BENCH[@]}" | tee "$TMP/group.txt"
wait $LAGPID || true
echo "== replica lag samples (records per shard, ms per shard), every 0.5 s during the run"
sort "$TMP/lag.txt" | uniq -c | sort -rn | head -20
# The primary of the moment (a started first, but ask).
P=$($B/tools/seatctl cluster 127.0.0.1:27500 127.0.0.1:27600 2>/dev/null |
    awk '$3 == "primary" {print $2; exit}')
P=${P:-127.0.0.1:27500}
R=$([ "$P" = 127.0.0.1:27500 ] && echo 127.0.0.1:27600 || echo 127.0.0.1:27500)
echo "== replica lag of holds, releases and sales, idle (primary $P, replica $R)"
timeout 120 $B/bench/replica_lag --primary "$P" --replica "$R" --samples 200 2>&1 || true
echo "== group, hold1 (holds are replicated), and replica_lag beside it"
( sleep 2; timeout 120 $B/bench/replica_lag --primary "$P" --replica "$R" --samples 200 \
    --interval_ms $((DURATION * 1000 / 400)) >"$TMP/lag-hold1.txt" 2>&1 || true ) &
LAGPID=$!
timeout $((DURATION + 60)) $B/bench/seatbench --nodes 127.0.0.1:27500,127.0.0.1:27600 "${HOLD1[@]}" |
  tee "$TMP/group-hold1.txt"
wait $LAGPID || true
echo "== replica lag during hold1 (primary $P, replica $R)"
cat "$TMP/lag-hold1.txt"
