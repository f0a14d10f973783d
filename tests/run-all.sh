#!/usr/bin/env bash
# Installs the dependencies, builds Lifeboat with its tests, and runs every test (ctest).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/.ci/install-deps" --tests
build="${LIFEBOAT_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIFEBOAT_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
(cd "$build" && ctest --output-on-failure -j 2 --timeout 900)
# Every parser under libFuzzer for 10 seconds each (clang, ASan + UBSan; docs/testing.md).
bash "$root/tests/fuzz/run.sh" 10
