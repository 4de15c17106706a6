#!/usr/bin/env bash
# compare.sh: seatlockd vs Redis + Lua, same workloads, same load generator
# (seatbench), alternating, several rounds; writes a dated report with tables
# and latency CDFs under bench/results/. See docs/benchmarks.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/compare.sh [options]

Runs each workload (hold1, hold4, contended, read, hold-confirm) against
seatlockd and against Redis + the Lua scripts in bench/redis/, alternating
which goes first, for --rounds rounds, every run with --verify. Each run gets
a freshly started, empty server on 127.0.0.1:
  hold1, hold4, contended, read:
    redis-server --port $REDIS_PORT --save '' --appendonly no
    seatlockd --shards 2 --port $SEATLOCK_PORT --data-dir <tmp> --fsync=always
  hold-confirm (durable sales):
    redis-server --port $REDIS_AOF_PORT --appendonly yes --appendfsync always --dir <tmp>
    seatlockd (as above; --fsync=always makes each CONFIRM wait for fdatasync)

Writes bench/results/raw/<date>-<host>-<workload>-<system>-r<round>.json (+ .txt),
bench/results/<date>-<host>.md (median-of-rounds tables, ratio, commands) and
bench/results/<date>-<host>-<workload>-cdf.png (needs gnuplot).

Builds nothing: run `cmake --preset release && cmake --build build/release` first.

Options:
  --rounds N         rounds per workload and system (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         warm-up seconds per run (default 1)
  --connections N    seatbench --connections (default 50)
  --pipeline N       seatbench --pipeline, closed loop (default 16)
  --workloads "W.."  subset, space-separated (default: all five)
  --client MODE      how seatbench talks to seatlockd: async (default: through
                     the client library's AsyncClient) or raw (its own epoll
                     code, no client-library overhead); Redis is always raw
  --pinned           cost per request: the server pinned to core $SERVER_CPU
                     (default 1) and seatbench to core $LOAD_CPU (default 0),
                     seatlockd with one shard (Redis is one thread); reports
                     the server's CPU seconds (/proc, all threads, io-wq
                     included) and requests per server CPU-second. Default
                     workloads then: "ping hold1 hold4 hold-release hold-confirm"
  --rates "R.."      after the closed-loop runs, open-loop hold1 at these
                     rates (requests/s; "half" = half of that system's own
                     closed-loop hold1 median), one run each, with a CDF plot.
                     Default with --pinned: "20000 100000 half"; else none
  --tag T            name the report bench/results/<date>-<host>[-pinned]-T.md
                     (and its raw runs and plots), so a second report of
                     the same day does not overwrite the first
  --help             this text

Workloads: hold1 hold4 contended read hold-confirm hold-release ping.

Environment: REDIS_PORT (6390), REDIS_AOF_PORT (6391), SEATLOCK_PORT (7400;
shard ports are +1 and +2), BUILD_DIR (build/release), CONFIRM_SEATS (2000000).
EOF
}

ROUNDS=3
DURATION=5
WARMUP=1
CONNECTIONS=50
PIPELINE=16
WORKLOADS=""
CLIENT=async
PINNED=0
EXTRA_TAG=""
RATES=""
RATES_SET=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --pipeline) PIPELINE="$2"; shift 2 ;;
    --workloads) WORKLOADS="$2"; shift 2 ;;
    --client) CLIENT="$2"; shift 2 ;;
    --pinned) PINNED=1; shift ;;
    --tag) EXTRA_TAG="$2"; shift 2 ;;
    --rates) RATES="$2"; RATES_SET=1; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ && "$WARMUP" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  { echo "compare.sh: --duration and --warmup must be numbers of seconds" >&2; exit 2; }
[[ "$CLIENT" == async || "$CLIENT" == raw ]] || { echo "compare.sh: --client must be async or raw" >&2; exit 2; }
if [[ -z "$WORKLOADS" ]]; then
  if ((PINNED)); then WORKLOADS="ping hold1 hold4 hold-release hold-confirm"; else WORKLOADS="hold1 hold4 contended read hold-confirm"; fi
fi
if ((PINNED && !RATES_SET)); then RATES="20000 100000 half"; fi
for w in $WORKLOADS; do
  case "$w" in hold1|hold4|contended|read|hold-confirm|hold-release|ping) ;; *) echo "compare.sh: unknown workload $w" >&2; exit 2 ;; esac
done
for r in $RATES; do
  [[ "$r" == half || "$r" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rates takes positive integers or 'half'" >&2; exit 2; }
done
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
SERVER_WRAP=()
LOAD_WRAP=()
SHARDS=2
if ((PINNED)); then
  command -v taskset >/dev/null || { echo "compare.sh: --pinned needs taskset (util-linux)" >&2; exit 1; }
  SERVER_WRAP=(taskset -c "$SERVER_CPU")
  LOAD_WRAP=(taskset -c "$LOAD_CPU")
  SHARDS=1
fi

REDIS_PORT="${REDIS_PORT:-6390}"
REDIS_AOF_PORT="${REDIS_AOF_PORT:-6391}"
SEATLOCK_PORT="${SEATLOCK_PORT:-7400}"
CONFIRM_SEATS="${CONFIRM_SEATS:-2000000}"
HOST=127.0.0.1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build/release}"
SEATLOCKD="$BUILD_DIR/server/seatlockd"
SEATBENCH="$BUILD_DIR/bench/seatbench"
for bin in "$SEATLOCKD" "$SEATBENCH"; do
  if [[ ! -x "$bin" ]]; then
    echo "compare.sh: $bin not found. Build first:" >&2
    echo "  cmake --preset release && cmake --build build/release" >&2
    exit 1
  fi
done
for tool in redis-server redis-cli python3 timeout; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is required" >&2; exit 1; }
done
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null || { HAVE_GNUPLOT=0; echo "compare.sh: gnuplot not found: no CDF plots" >&2; }

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for p in "$REDIS_PORT" "$REDIS_AOF_PORT" "$SEATLOCK_PORT" $((SEATLOCK_PORT + 1)) $((SEATLOCK_PORT + 2)); do
  if port_busy "$p"; then
    echo "compare.sh: something already listens on $HOST:$p (set REDIS_PORT / REDIS_AOF_PORT / SEATLOCK_PORT)" >&2
    exit 1
  fi
done

DATE="$(date +%F)"
HOSTNAME_S="$(hostname -s)"
TAG="$DATE-$HOSTNAME_S"
((PINNED)) && TAG="$TAG-pinned"
[[ -n "$EXTRA_TAG" ]] && TAG="$TAG-$EXTRA_TAG"
RESULTS="bench/results"
RAW="$RESULTS/raw"
mkdir -p "$RAW"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/seatcompare.XXXXXX")"
COMMANDS="$TMP/commands.txt"
: >"$COMMANDS"

SERVER_PID=""
BENCH_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  if [[ -n "$BENCH_PID" ]]; then kill "$BENCH_PID" 2>/dev/null || true; wait "$BENCH_PID" 2>/dev/null || true; fi
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {  # port, seconds
  local deadline=$((SECONDS + $2))
  until port_busy "$1"; do
    if ((SECONDS > deadline)) || ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
}

# start_server system workload run-id: starts a fresh, empty server; sets PORT.
start_server() {
  local system="$1" workload="$2" id="$3" dir="$TMP/$3" cmd
  mkdir -p "$dir"
  if [[ "$system" == redis ]]; then
    if [[ "$workload" == hold-confirm ]]; then
      PORT="$REDIS_AOF_PORT"
      cmd=(redis-server --port "$PORT" --bind "$HOST" --save '' --appendonly yes --appendfsync always --dir "$dir")
    else
      PORT="$REDIS_PORT"
      cmd=(redis-server --port "$PORT" --bind "$HOST" --save '' --appendonly no --dir "$dir")
    fi
  else
    PORT="$SEATLOCK_PORT"
    cmd=("$SEATLOCKD" --shards "$SHARDS" --bind "$HOST" --port "$PORT" --data-dir "$dir/data" --fsync=always)
  fi
  cmd=("${SERVER_WRAP[@]}" "${cmd[@]}")
  local shown
  shown="$(printf '%q ' "${cmd[@]}")"
  echo "${shown//"$dir"/<tmp>/RUN}" >>"$COMMANDS.servers"
  "${cmd[@]}" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  if [[ "$system" == seatlock ]]; then
    wait_port $((PORT + SHARDS)) 20 || { cat "$dir/server.log" >&2; echo "compare.sh: seatlockd did not start" >&2; exit 1; }
  fi
  wait_port "$PORT" 20 || { cat "$dir/server.log" >&2; echo "compare.sh: $system did not start" >&2; exit 1; }
}

FAILED=0
RUN_TIMEOUT=$(python3 -c "import math; print(int(math.ceil($WARMUP + $DURATION)) + 120)")

# run_one system workload id [seatbench args...]: a fresh server, one seatbench
# run into $RAW/$TAG-id.{json,txt}, the server stopped.
run_one() {
  local system="$1" workload="$2" id="$3"
  shift 3
  start_server "$system" "$workload" "$id"
  local extra=("$@")
  [[ "$workload" == hold-confirm ]] && extra+=(--seats "$CONFIRM_SEATS")
  [[ "$system" == seatlock ]] && extra+=(--client "$CLIENT")
  [[ "$workload" != ping ]] && extra+=(--verify)
  ((PINNED)) && extra+=(--server-pid "$SERVER_PID")
  local out="$RAW/$TAG-$id"
  rm -f "$out.json" "$out.txt" "$out.failed"
  local cmd=("${LOAD_WRAP[@]}" "$SEATBENCH" --target "$system" --host "$HOST" --port "$PORT"
             --workload "$workload" --connections "$CONNECTIONS" --duration "$DURATION"
             --warmup "$WARMUP" "${extra[@]}" --lua-dir bench/redis --json "$out.json")
  local shown
  shown="$(printf '%q ' "${cmd[@]}")"
  echo "${shown//--server-pid $SERVER_PID/--server-pid <server pid>}" >>"$COMMANDS"
  echo "== $id"
  local rc=0
  # In the background and waited for, so a signal reaches the trap at once.
  timeout -k 5 "$RUN_TIMEOUT" "${cmd[@]}" >"$out.txt" 2>&1 &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  sed 's/^/   /' "$out.txt"
  if ((rc != 0)); then
    echo "   FAILED (exit $rc)"
    FAILED=1
    echo "{\"failed\": $rc}" >"$out.failed"
  fi
  stop_server
  rm -rf "${TMP:?}/$id"
}

echo "compare.sh: $ROUNDS round(s) x {$WORKLOADS} x {seatlock (--client $CLIENT), redis}, ${DURATION}s + ${WARMUP}s warm-up each$( ((PINNED)) && echo ", pinned: server on core $SERVER_CPU, seatbench on core $LOAD_CPU")"
for round in $(seq "$ROUNDS"); do
  for workload in $WORKLOADS; do
    if ((round % 2 == 1)); then systems="seatlock redis"; else systems="redis seatlock"; fi
    for system in $systems; do
      run_one "$system" "$workload" "$workload-$system-r$round" --pipeline "$PIPELINE"
    done
  done
done
# Open loop, hold1, at fixed rates ("half": of the system's own closed-loop
# hold1 median in this run).
for rate in $RATES; do
  for system in seatlock redis; do
    r="$rate"
    if [[ "$rate" == half ]]; then
      r=$(python3 - "$RAW" "$TAG" "$ROUNDS" "$system" <<'PY'
import json, os, statistics, sys
raw, tag, rounds, system = sys.argv[1:]
vals = []
for i in range(1, int(rounds) + 1):
    p = os.path.join(raw, f"{tag}-hold1-{system}-r{i}.json")
    if os.path.exists(p):
        vals.append(json.load(open(p))["throughput"])
print(int(statistics.median(vals) / 2) if vals else 0)
PY
)
      if [[ "$r" == 0 ]]; then echo "compare.sh: --rates half needs hold1 in the workloads" >&2; FAILED=1; continue; fi
    fi
    run_one "$system" hold1 "open-$rate-$system" --rate "$r"
  done
done

# ---- report ------------------------------------------------------------------
REPORT="$RESULTS/$TAG.md"
sort -u "$COMMANDS.servers" >"$TMP/servers.txt"
report_rc=0
python3 - "$RAW" "$TAG" "$REPORT" "$TMP" "$COMMANDS" "$TMP/servers.txt" "$ROUNDS" "$WORKLOADS" "$CLIENT" "$PINNED" "$RATES" "$SERVER_CPU" "$LOAD_CPU" <<'PY' || report_rc=$?
import glob, json, os, statistics, subprocess, sys
raw, tag, report, tmp, commands, servers, rounds, workloads, client, pinned, rates, server_cpu, load_cpu = sys.argv[1:]
workloads = workloads.split()
pinned = pinned == "1"
rates = rates.split()
systems = ["seatlock", "redis"]
names = {"seatlock": f"seatlockd (client {client})", "redis": "Redis + Lua"}

def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"

def load(w, s):
    out = []
    for r in range(1, int(rounds) + 1):
        base = os.path.join(raw, f"{tag}-{w}-{s}-r{r}")
        if os.path.exists(base + ".failed") or not os.path.exists(base + ".json"):
            out.append(None)
            continue
        with open(base + ".json") as f:
            out.append(json.load(f))
    return out

def med(runs, key):
    vals = [r[key] for r in runs if r]
    return statistics.median(vals) if vals else None

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if unit == "/s":
        return f"{v/1000:.1f} K/s"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"

lines = [f"# seatlockd vs Redis + Lua: {tag}", ""]
lines += ["Produced by `bench/compare.sh`. Median of " + rounds + " round(s) per cell; every run "
          "used `--verify`. Each run started a fresh, empty server. Latencies in µs. "
          "Machine: " + run(["uname", "-srm"]) + f", {os.cpu_count()} CPUs; "
          "git " + (run(["git", "rev-parse", "--short", "HEAD"]) or "?") +
          (" (dirty)" if run(["git", "status", "--porcelain", "--untracked-files=no"]) else "") + "; " +
          run(["redis-server", "--version"]).split(" sha=")[0] + ".", ""]
clients_seen = sorted({r.get("client", "raw") for w in workloads for r in load(w, "seatlock") if r})
lines += ["seatbench drove seatlockd with `--client " + client + "` (" +
          ("through the client library's AsyncClient, so the seatlockd figures include its cost"
           if client == "async" else "its own epoll code on the wire protocol: no client-library overhead") +
          "; as recorded in the runs: " + (", ".join(clients_seen) or "n/a") + "). Redis: RESP on seatbench's own "
          "connections.", ""]
titles = {
    "hold1": "hold1: HOLD one random seat (50,000 seats, TTL 1 s)",
    "hold4": "hold4: HOLD 4 adjacent seats in a row",
    "contended": "contended: 90% of requests on 1% of the seats",
    "read": "read: free seats of one random section (~10% held in setup)",
    "hold-confirm": "hold-confirm: durable sales (HOLD then CONFIRM; fsync always / appendfsync always)",
    "hold-release": "hold-release: HOLD one random seat, and RELEASE each granted hold (a transaction is both)",
    "ping": "ping: PING (the server loop's ceiling)",
}
if pinned:
    lines += [f"**Pinned:** the server ran on core {server_cpu} (`taskset`), seatbench on core {load_cpu}; "
              "seatlockd with `--shards 1` (Redis is one thread). \"per CPU-s\" is requests (hold-confirm, hold-release: "
              "transactions) per second of the server's CPU time over the measured window "
              "(user + system, all threads including io-wq workers, from /proc/PID/stat).", ""]
failed_any = False
for w in workloads:
    lines += [f"## {titles.get(w, w)}", ""]
    per = {s: load(w, s) for s in systems}
    unit = "sales/s" if w == "hold-confirm" else "requests/s"
    cpu_cols = " server CPU s | per CPU-s |" if pinned else ""
    lines += [f"| system | {unit} |{cpu_cols} p50 | p99 | p99.9 | max | verify | runs ok |",
              "|---|---|" + ("---|---|" if pinned else "") + "---|---|---|---|---|---|"]
    for s in systems:
        runs = per[s]
        ok = [r for r in runs if r]
        ver = "ok" if ok and all(r.get("verify") in ("ok", None) for r in ok) and len(ok) == len(runs) else "**FAILED**"
        if w == "ping" and ver == "ok":
            ver = "n/a"
        cpu = (f" {fmt(med(runs, 'server_cpu_s'))} | {fmt(med(runs, 'per_server_cpu_s'), '/s')} |"
               if pinned else "")
        if ver not in ("ok", "n/a"):  # ping has nothing to verify
            failed_any = True
        lines.append(f"| {names[s]} | {fmt(med(runs, 'throughput'), '/s')} |{cpu} {fmt(med(runs, 'p50_us'))} | "
                     f"{fmt(med(runs, 'p99_us'))} | {fmt(med(runs, 'p999_us'))} | {fmt(med(runs, 'max_us'))} | "
                     f"{ver} | {len(ok)}/{len(runs)} |")
    a, b = med(per["seatlock"], "throughput"), med(per["redis"], "throughput")
    ratio = f"{a / b:.2f}×" if a and b else "n/a"
    pa, pb = med(per["seatlock"], "p99_us"), med(per["redis"], "p99_us")
    pratio = f"{pa / pb:.2f}×" if pa and pb else "n/a"
    if pinned:
        ca, cb = med(per["seatlock"], "per_server_cpu_s"), med(per["redis"], "per_server_cpu_s")
        if ca and cb:
            lines += ["", f"Per server CPU-second, seatlockd / Redis: **{ca / cb:.2f}×**."]
    lines += ["", f"Throughput ratio seatlockd / Redis: **{ratio}** (p99 ratio {pratio}). "
              "Per round (seatlockd, Redis): " + "; ".join(
                  f"r{i+1} {fmt(x['throughput'] if x else None, '/s')}, {fmt(y['throughput'] if y else None, '/s')}"
                  for i, (x, y) in enumerate(zip(per["seatlock"], per["redis"]))) + ".", ""]
    # CDF data: the round with the median throughput, per system.
    have = False
    for s in systems:
        ok = [r for r in per[s] if r and r.get("cdf")]
        if not ok:
            continue
        ok.sort(key=lambda r: r["throughput"])
        pick = ok[len(ok) // 2]
        with open(os.path.join(tmp, f"cdf-{w}-{s}.dat"), "w") as f:
            for us, frac in pick["cdf"]:
                f.write(f"{us} {frac}\n")
        have = True
    if have:
        lines += [f"![{w} latency CDF]({tag}-{w}-cdf.png)", ""]
if rates:
    lines += ["## Open loop: hold1 at fixed rates", "",
              "One run per rate and system, `--rate R` (latency from each request's intended send "
              "time, so a stall counts for every request it delays). \"half\" is half of that "
              "system's own closed-loop hold1 median above.", "",
              "| rate | system | offered /s | achieved /s | late | p50 | p99 | p99.9 | max |",
              "|---|---|---|---|---|---|---|---|---|"]
    for rate in rates:
        for s in systems:
            p = os.path.join(raw, f"{tag}-open-{rate}-{s}.json")
            r = json.load(open(p)) if os.path.exists(p) and not os.path.exists(p[:-5] + ".failed") else None
            if r is None:
                lines.append(f"| {rate} | {names[s]} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
                failed_any = True
                continue
            lines.append(f"| {rate} | {names[s]} | {fmt(r['rate_offered'])} | {fmt(r['rate_achieved'])} | "
                         f"{r['late']:,} | {fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {fmt(r['p999_us'])} | "
                         f"{fmt(r['max_us'])} |")
            if r.get("cdf"):
                with open(os.path.join(tmp, f"cdf-open-{rate}-{s}.dat"), "w") as f:
                    for us, frac in r["cdf"]:
                        f.write(f"{us} {frac}\n")
    lines += ["", f"![open-loop latency CDF]({tag}-open-cdf.png)", ""]
lines += ["## Commands", "", "Servers (one fresh, empty instance per run; RUN is a temporary directory per run):", "", "```"]
lines += [l.rstrip() for l in open(servers)]
lines += ["```", "", "Load (in run order):", "", "```"]
lines += [l.rstrip() for l in open(commands)]
lines += ["```", ""]
with open(report, "w") as f:
    f.write("\n".join(lines))
sys.exit(1 if failed_any else 0)
PY
if ((HAVE_GNUPLOT)); then
  for w in $WORKLOADS; do
    plots=()
    for s in seatlock redis; do
      dat="$TMP/cdf-$w-$s.dat"
      [[ -s "$dat" ]] || continue
      title=seatlockd; [[ "$s" == redis ]] && title="Redis + Lua"
      plots+=("'$dat' using 1:2 with lines linewidth 2 title '$title'")
    done
    ((${#plots[@]})) || continue
    png="$RESULTS/$TAG-$w-cdf.png"
    joined=$(IFS=,; echo "${plots[*]}")
    timeout 60 gnuplot <<EOF
set terminal pngcairo size 900,560 font ",11"
set output '$png'
set title "$w: latency CDF (median round, $TAG)"
set logscale x
set xlabel 'latency (µs, log scale)'
set ylabel 'fraction of requests'
set yrange [0:1.001]
set key bottom right
set grid
plot $joined
EOF
    echo "wrote $png"
  done
fi
if ((HAVE_GNUPLOT)) && [[ -n "$RATES" ]]; then
  plots=()
  for rate in $RATES; do
    for s in seatlock redis; do
      dat="$TMP/cdf-open-$rate-$s.dat"
      [[ -s "$dat" ]] || continue
      title="seatlockd $rate"; [[ "$s" == redis ]] && title="Redis + Lua $rate"
      plots+=("'$dat' using 1:2 with lines linewidth 2 title '$title'")
    done
  done
  if ((${#plots[@]})); then
    png="$RESULTS/$TAG-open-cdf.png"
    joined=$(IFS=,; echo "${plots[*]}")
    timeout 60 gnuplot <<EOF
set terminal pngcairo size 900,560 font ",11"
set output '$png'
set title "hold1, open loop at fixed rates: latency CDF ($TAG)"
set logscale x
set xlabel 'latency from intended send (µs, log scale)'
set ylabel 'fraction of requests'
set yrange [0:1.001]
set key bottom right
set grid
plot $joined
EOF
    echo "wrote $png"
  fi
fi
echo "wrote $REPORT"
if ((FAILED || report_rc)); then
  echo "compare.sh: some runs FAILED (see the report and $RAW/*.txt)" >&2
  exit 1
fi
