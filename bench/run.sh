#!/usr/bin/env bash
# Benchmarks Lifeboat against restic and borg on the Linux 6.1 source tree, in one run.
# Usage: bench/run.sh [RUNS] (default 3). Needs root or sudo for apt-get. Scratch space:
# $BENCH_DIR (default /var/tmp/lifeboat-bench), about 8 GB plus 1.5 GB per restored tree (four a
# run, kept to the end: see bench.py), 26 GB for 3 runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
for p in restic borgbackup hyperfine time linux-source-6.1 python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$root/.ci/install-deps"
build="${LIFEBOAT_BENCH_BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFEBOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
exec python3 "$root/bench/bench.py" --bin "$build/apps" --runs "${1:-3}"
