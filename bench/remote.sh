#!/usr/bin/env bash
# Backup and restore throughput on local disk, S3 (s3rver), Azure (Azurite) and SFTP (OpenSSH)
# on loopback, with 1, 4 and 8 transfers in flight, against restic on the same S3 and SFTP
# servers, in one run. Usage: bench/remote.sh [RUNS] (default 3). Needs root (the sshd's test
# account) and the Linux 6.1 source tree that bench/run.sh extracts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/.ci/install-deps" --tests
dpkg-query -W -f='${Status}' restic 2>/dev/null | grep -q "install ok installed" ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null
build="${LIFEBOAT_BENCH_BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFEBOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
exec bash "$root/tests/servers/with-servers.sh" \
  python3 "$root/bench/remote.py" --bin "$build/apps" --runs "${1:-3}"
