#!/usr/bin/env bash
# Benchmarks backup-prune: forget over 10,000 snapshots, and garbage collection of a repository
# of 1,000,000 blobs a third of which no snapshot references. Medians of RUNS (default 3) with
# wall time and peak RSS from /usr/bin/time -v. Scratch: $BENCH_DIR (default
# /var/tmp/lifeboat-bench), about 1 GB. restic and borg are not measured here: making 10,000
# snapshots or a million blobs with them takes hours (see bench/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
"$root/.ci/install-deps"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
build="${LIFEBOAT_BENCH_BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFEBOAT_TESTS=OFF \
  -DLIFEBOAT_BENCH_TOOLS=ON >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
bin="$build/apps"
dir="${BENCH_DIR:-/var/tmp/lifeboat-bench}/prune"
rm -rf "$dir"
mkdir -p "$dir"
printf 'bench password\n' >"$dir/pw"
chmod 600 "$dir/pw"
export LIFEBOAT_PASSWORD_FILE="$dir/pw" LIFEBOAT_STATE_DIR="$dir/state" LIFEBOAT_CACHE_DIR="$dir/cache"

# measure NAME SETUP -- COMMAND...: runs SETUP (a shell snippet, untimed) then COMMAND, RUNS
# times; prints the median wall seconds and peak RSS.
measure() {
  local name=$1 setup=$2
  shift 3
  local walls=() rss=()
  for _ in $(seq "$runs"); do
    bash -c "$setup"
    /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" ||
      { cat "$dir/err.txt" >&2; exit 1; }
    walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")")
    rss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")")
  done
  python3 - "$name" "${walls[*]}" "${rss[*]}" <<'PY'
import statistics, sys
name, walls, rss = sys.argv[1], [float(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
print(f"| {name} | {statistics.median(walls):.2f} s | {statistics.median(rss) / 1024:.0f} MB | {len(walls)} |")
PY
}

echo "setting up: 10,000 snapshots" >&2
LIFEBOAT_REPOSITORY="$dir/snaps" "$bin/backup-create" init >/dev/null 2>&1
LIFEBOAT_REPOSITORY="$dir/snaps" "$build/lifeboat-bench-populate" "$dir/snaps" "$dir/pw" 1000 0 10000 >&2
cp -a "$dir/snaps" "$dir/snaps.pristine"
echo "setting up: 1,000,000 blobs, a third unreferenced" >&2
LIFEBOAT_REPOSITORY="$dir/blobs" "$bin/backup-create" init >/dev/null 2>&1
"$build/lifeboat-bench-populate" "$dir/blobs" "$dir/pw" 1000000 33 1 >&2
cp -a "$dir/blobs" "$dir/blobs.pristine"

echo "| operation | median wall | median peak RSS | runs |"
echo "| --- | --- | --- | --- |"
policy=(--keep-hourly 48 --keep-daily 30 --keep-weekly 12 --keep-monthly 12)
export LIFEBOAT_REPOSITORY="$dir/snaps"
measure "forget --dry-run, 10,000 snapshots" "true" -- "$bin/backup-prune" forget "${policy[@]}" --dry-run
measure "forget, 10,000 snapshots" "rm -rf '$dir/snaps' '$dir/state'; cp -a '$dir/snaps.pristine' '$dir/snaps'" -- \
  "$bin/backup-prune" forget "${policy[@]}"
export LIFEBOAT_REPOSITORY="$dir/blobs"
measure "prune, 1,000,000 blobs (1/3 unused): condemn + index rewrite" \
  "rm -rf '$dir/blobs'; cp -a '$dir/blobs.pristine' '$dir/blobs'" -- "$bin/backup-prune" --grace 0
cp -a "$dir/blobs" "$dir/blobs.condemned"
measure "prune, 1,000,000 blobs: delete the condemned packs" \
  "rm -rf '$dir/blobs'; cp -a '$dir/blobs.condemned' '$dir/blobs'" -- "$bin/backup-prune" --grace 0
measure "prune --dry-run, 1,000,000 blobs" "true" -- "$bin/backup-prune" --grace 0 --dry-run
