#!/usr/bin/env bash
# Installs every Debian 12 package seatlock needs to build, test and benchmark.
# Idempotent: when everything is present it only checks and exits.
# Usage: scripts/setup.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  liburing-dev libabsl-dev libxxhash-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev           # fuzz/ (libFuzzer, ASan, UBSan runtimes for clang)
  llvm-14                               # llvm-profdata-14, llvm-cov-14: fuzz coverage (docs/fuzzing.md)
  clang-format-14 clang-tidy-14         # scripts/lint.sh (CI) and scripts/tidy.sh
  redis-server redis-tools              # baseline for the benchmarks only
  gnuplot-nox                           # latency CDF plots from bench/compare.sh
  postgresql libpq-dev                  # seatlock-sink: libpq, and PostgreSQL 15 for its tests
  libgrpc++-dev protobuf-compiler-grpc  # cluster/: gRPC C++, etcd v3's API (grpc_cpp_plugin for etcd.proto)
  etcd-server                           # the tests of cluster/ start their own etcd 3.4 (tests/cluster/)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian redis-server package starts a system instance on 6379; the benchmarks
# start their own on other ports, so the system one is left alone.
# The etcd-server package starts (and enables) a system etcd on 2379/2380. The tests
# start their own on ephemeral loopback ports and must never talk to a shared one,
# so the system etcd is stopped and disabled (errors ignored: no systemd in containers).
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
elif [ -x /etc/init.d/etcd ]; then
  $SUDO /etc/init.d/etcd stop >/dev/null 2>&1 || true
  $SUDO update-rc.d etcd disable >/dev/null 2>&1 || true
fi
echo "setup: done"
