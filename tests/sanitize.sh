#!/usr/bin/env bash
# The whole test suite on a build with AddressSanitizer and UndefinedBehaviorSanitizer
# (CMakePresets.json "asan", in build-asan). Every report of every process the tests start —
# the tools, the unit tests — is written to build-asan/sanitizer/ as well as making that process
# fail; the run fails when any test fails or any report was written.
#   bash tests/sanitize.sh [CTEST-ARGS...]      e.g. -R e2e.test_postgres
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset asan >/dev/null
flock /tmp/lifeboat-build.lock cmake --build build-asan
logs=$PWD/build-asan/sanitizer
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=98:log_path=$logs/ubsan"
export LSAN_OPTIONS="exitcode=99"
status=0
(cd build-asan && ctest -j2 --output-on-failure --timeout 1800 "$@") || status=1
if [ -n "$(ls -A "$logs")" ]; then
  echo "sanitizer reports (build-asan/sanitizer/):"
  for f in "$logs"/*; do echo "== $f"; grep -E "ERROR|SUMMARY|runtime error" "$f" | head -3; done
  status=1
fi
exit $status
