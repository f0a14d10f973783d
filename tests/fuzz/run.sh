#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; CMakePresets.json "fuzz", in build-fuzz)
# and runs each for SECONDS (default 10) on a corpus seeded from the golden vectors, kept in
# build-fuzz/corpus/TARGET between runs. A finding (crash, sanitizer report, leak, timeout,
# out-of-memory) stops that target with libFuzzer's report and its reproducer
# (build-fuzz/findings/TARGET/), and the script exits 1.
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]
# For hours: bash tests/fuzz/run.sh 3600   (each target an hour; CPU time = wall time)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift || true
command -v clang++ >/dev/null || { echo "tests/fuzz/run.sh: clang++ is needed (apt-get install clang)"; exit 1; }
cmake --preset fuzz >/dev/null
flock /tmp/lifeboat-build.lock cmake --build build-fuzz --target fuzz
build-fuzz/tests/fuzz/fuzz_seeds build-fuzz/seeds
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd build-fuzz/tests/fuzz && ls fuzz_* | sed -n 's/^fuzz_//p' | grep -vx seeds)
failed=()
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  findings=build-fuzz/findings/$t
  mkdir -p "$corpus" "$findings"
  [ -d "build-fuzz/seeds/$t" ] && cp -n build-fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  start=$(date +%s)
  if build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" \
      >"build-fuzz/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$t.log")
    echo "ok - fuzz_$t: ${runs:-?} inputs in $(( $(date +%s) - start )) s, corpus $(ls "$corpus" | wc -l)"
  else
    echo "FAIL - fuzz_$t (build-fuzz/$t.log, reproducer in $findings/):"
    grep -E "ERROR|SUMMARY|invariant|terminate|uncaught" "build-fuzz/$t.log" | head -5 | sed 's/^/    /'
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "findings in: ${failed[*]}"; exit 1; }
